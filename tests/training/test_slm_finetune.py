"""The packaged SmolLM2-135M-Instruct fine-tuned with LoRA for a few steps in Ray Train: the loss falls, the
constrained answers are valid calls of the offered tool or text, and the version round-trips through MLflow by
alias."""

from __future__ import annotations

import json
import random
import tempfile

import pytest

from llm2slm.training.catalogue import default_catalogue_path, find_candidate, load_catalogue
from llm2slm.training.recipe import recipe_for, task_stats_from_dir

pytestmark = pytest.mark.slow

WEATHER = [{"type": "function", "function": {"name": "get_weather", "description": "Today's weather in a city.",
                                             "parameters": {"type": "object",
                                                            "properties": {"city": {"type": "string"},
                                                                           "unit": {"type": "string",
                                                                                    "enum": ["C", "F"]}},
                                                            "required": ["city"]}}}]
CITIES = ["Paris", "Lima", "Oslo", "Cairo", "Quito", "Seoul", "Perth", "Dakar"]


def _rows(n: int, seed: int) -> list[dict]:
    """A weather agent: a question gets a tool call, thanks get a reply."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        city = rng.choice(CITIES)
        if i % 3 == 2:
            user, answer = f"Thanks, that is all for {city}.", "You're welcome!"
        else:
            user = f"What's the weather in {city}?"
            answer = json.dumps([{"arguments": {"city": city}, "name": "get_weather"}], sort_keys=True)
        rows.append({"id": f"w{seed}-{i}", "tools": WEATHER, "answer": answer,
                     "messages": [{"role": "system", "content": "You are a weather agent."},
                                  {"role": "user", "content": user}]})
    return rows


def test_a_lora_slm_learns_the_tool_calls_and_round_trips_through_mlflow(tmp_path):
    import mlflow
    import ray

    from llm2slm.registry.versions import load_policy, model_name, register_version
    from llm2slm.serving.grammar import answer_problem
    from llm2slm.serving.specialist import Specialist
    from llm2slm.training.mlflow_log import log_specialist
    from llm2slm.training.train import fine_tune

    task = tmp_path / "task"
    task.mkdir()
    for part, rows in {"train": _rows(24, 1), "val": _rows(6, 2)}.items():
        (task / f"{part}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    candidate = find_candidate(load_catalogue(default_catalogue_path()), "smollm2-135m-instruct")
    recipe = recipe_for(candidate, task_stats_from_dir(task), epochs=3, checkpoint_every_steps=0)
    assert (recipe.method, recipe.decoding, recipe.micro_batch_size) == ("lora", "tools", 2)
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=256 * 1024**2,
             _temp_dir=tempfile.mkdtemp(prefix="r", dir="/tmp"), log_to_driver=False)
    try:
        result = fine_tune(recipe, task, tmp_path / "model", num_workers=1, use_gpu=False,
                           storage_path=tmp_path / "runs", max_failures=0, max_train_tokens=100_000)
    finally:
        ray.shutdown()
    assert result.steps == 9 and result.budget is not None and result.budget.calls_kept == 24
    assert result.history[-1]["val_loss"] < 0.5 * result.history[0]["val_loss"]
    from llm2slm.training.models import read_meta

    assert read_meta(result.model_dir)["max_tool_calls"] == 1  # the LLM never made two calls in one answer
    test = _rows(6, 3)
    answers = Specialist.load(result.model_dir).predict_rows(test)
    assert all(answer_problem(a, "tools", WEATHER) is None for a in answers)
    assert sum(a == r["answer"] for a, r in zip(answers, test, strict=True)) >= 4  # 6 held-out calls

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.create_experiment("t", artifact_location=(tmp_path / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=experiment):
        model_uri = log_specialist(result.model_dir)
    figures = {"agreement": 1.0, "agreement_non_majority": 1.0, "decision_accuracy": 1.0,
               "function_name_accuracy": 1.0, "argument_exact_match": 1.0, "tool_call_valid": 1.0,
               "latency_ms_p95": 1.0}
    policy = load_policy(default_catalogue_path().parents[1] / "mlflow" / "promotion_policy.yaml")
    version = register_version(uri, model_name("llm2slm", "task-07"), "task-07", model_uri, "tool_call", figures,
                               {}, policy)
    assert version.gate_passed and "champion" in version.aliases
    served = mlflow.pyfunc.load_model(f"models:/{version.name}@champion")
    assert served.predict([{"messages": r["messages"], "tools": WEATHER} for r in test]) == answers
