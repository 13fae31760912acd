"""MLflow's own serving path: a specialist registered as its task's champion serves through `mlflow models serve`
(local environment manager) and answers `/invocations` as the gateway's router loads and runs it in process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from llm2slm.cli.processes import wait_for_http
from llm2slm.common.env import quiet_offline_defaults
from llm2slm.registry.versions import model_name, register_version
from llm2slm.serving.routes import load_registered
from llm2slm.testing.fake_llm import free_port
from tests.mlflow_factories import gate_policy, tracking_uri

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SYSTEM = "You answer a restaurant's booking questions in one short sentence."
TOOLS = [{"type": "function", "function": {"name": "book_table", "description": "Book a restaurant table",
                                            "parameters": {"type": "object",
                                                           "properties": {"people": {"type": "integer"}}}}}]
HELD_OUT = [  # calls the specialist never saw; the last one carries tools
    {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Are you open on Sunday?"}]},
    {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Can I bring a dog?"}]},
    {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Do you have vegan food?"}]},
    {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Is there parking nearby?"}]},
    {"messages": [{"role": "user", "content": "A table for 4 at 8pm"}], "tools": TOOLS},
]


def _tiny_generator(folder: Path) -> Path:
    """A tiny Llama generator specialist (random weights: its greedy answers differ from call to call)."""
    import torch

    from llm2slm.training.models import build_generator, save_specialist
    from llm2slm.training.recipe import Recipe
    from llm2slm.training.tiny import SPECIAL_TOKENS, tokenizer_to_json, train_tiny_tokenizer

    texts = [f"{SYSTEM} booking {i} for {i % 7 + 1} people at {i % 12 + 1}pm" for i in range(200)]
    recipe = Recipe(kind="generator", base_model="tiny:llama", method="full", max_length=192, max_new_tokens=12)
    model, tokenizer = build_generator(recipe, tokenizer_to_json(train_tiny_tokenizer(texts, vocab_size=600)))
    with torch.no_grad():  # untrained, it writes only special tokens; zero embeddings for them (tied) let it speak
        model.get_input_embeddings().weight[tokenizer.convert_tokens_to_ids(SPECIAL_TOKENS)] = 0.0
    return save_specialist(model, tokenizer, recipe, folder / "model")


def _register_champion(folder: Path, specialist: Path) -> tuple[str, str, str]:
    """(tracking URI, registered model, version) of the specialist registered through the gate as champion."""
    import mlflow

    from llm2slm.lineage.tracking import ensure_experiment
    from llm2slm.training.mlflow_log import log_specialist

    uri = tracking_uri(folder)
    experiment = ensure_experiment(uri, (folder / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=experiment):
        model_uri = log_specialist(specialist)
    name = model_name("llm2slm", "task-03")
    figures = {"agreement": 0.95, "rouge_l": 0.9, "latency_ms_p95": 20.0}
    registered = register_version(uri, name, "task-03", model_uri, "free_text", figures, {}, gate_policy("auto"))
    assert registered.aliases == ["challenger", "champion"]
    return uri, name, registered.version


def _serve(uri: str, name: str, port: int, log: Path) -> subprocess.Popen:
    # the scoring server runs `uvicorn` from PATH: the environment's bin folder first, as an activated venv has it
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, **quiet_offline_defaults(), "MLFLOW_TRACKING_URI": uri, "PYTHONPATH": str(REPO),
           "PATH": path}
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{name}@champion",
               "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "--workers", "1"]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ping", timeout_s=60, proc=process)
    except RuntimeError as exc:
        process.kill()
        raise AssertionError(f"mlflow models serve: {exc}: {log.read_text()[-3000:]}") from None
    return process


def test_champion_served_by_mlflow_answers_as_the_router_does(tmp_path):
    uri, name, version = _register_champion(tmp_path, _tiny_generator(tmp_path))
    in_process = load_registered(uri, name, version, tmp_path / "cache").predict_rows(HELD_OUT)
    assert len(set(in_process)) >= 3  # the calls get different answers: the comparison below can fail

    port = free_port()
    server = _serve(uri, name, port, tmp_path / "serve.log")
    try:
        url = f"http://127.0.0.1:{port}/invocations"
        records = httpx.post(url, json={"dataframe_records": HELD_OUT}, timeout=60)
        split = httpx.post(url, json={"dataframe_split": {
            "columns": ["messages", "tools"], "data": [[r["messages"], r.get("tools")] for r in HELD_OUT]}},
            timeout=60)
        bad = httpx.post(url, json={"dataframe_records": [{"tools": TOOLS}]}, timeout=60)
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert records.status_code == 200, records.text
    assert records.json() == {"predictions": in_process}
    assert split.status_code == 200, split.text
    assert split.json() == {"predictions": in_process}
    assert bad.status_code == 400
    assert bad.json()["message"].endswith("row 0: each row needs `messages`, a non-empty list of chat messages")
