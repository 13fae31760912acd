"""Real parts for the router tests: a fitted assigner, a MiniLM classifier specialist registered in a real MLflow
store (two versions), the fake upstream LLM, an encrypted store, and the gateway with its router on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from llm2slm.capture.gateway import create_app
from llm2slm.capture.keys import KeyRing
from llm2slm.capture.store import CallStore
from llm2slm.capture.writer import RecordWriter
from llm2slm.common.config import GatewayConfig
from llm2slm.common.templates import Templates
from llm2slm.discovery.assigner import fit_assigner
from llm2slm.serving.inference import InferenceWorker, ShadowQueue
from llm2slm.serving.placement import Placer
from llm2slm.serving.router import Router
from llm2slm.serving.routes import RouteTable, load_registered
from llm2slm.testing.fake_llm import ServerThread, free_port
from tests.capture.conftest import agent_token, fake_upstream, keyring, store  # noqa: F401 (capture's fixtures)
from tests.factories import make_record
from tests.mlflow_factories import tracking_uri

LABELS = ["card_arrival", "card_lost"]
INTENT_SYSTEM = "You route banking support messages to exactly one intent label from the bank's list."
SLOT_SYSTEM = "You extract the booking slots of a restaurant reservation request and answer with JSON only."
NAME = "llm2slm-task-00"
TOOLS = [{"type": "function", "function": {"name": "book_table", "description": "Book a restaurant table",
                                            "parameters": {"type": "object",
                                                           "properties": {"people": {"type": "integer"}},
                                                           "required": ["people"]}}}]


def intent_request(text: str) -> dict:
    return {"model": "gpt-4o-mini", "messages": [{"role": "system", "content": INTENT_SYSTEM},
                                                  {"role": "user", "content": text}]}


@pytest.fixture(scope="session")
def assigner():
    """task-00 (intents) and task-01 (table booking with a tool), each decided by its structure alone."""
    records = [make_record(i, f"my card {i} has not arrived", system=INTENT_SYSTEM) for i in range(20)]
    records += [make_record(100 + i, f"a table for {i} at 7pm", system=SLOT_SYSTEM, tools=TOOLS) for i in range(20)]
    vectors = np.random.default_rng(0).normal(size=(len(records), 8))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    fitted = fit_assigner(vectors.astype(np.float32), records, ["task-00"] * 20 + ["task-01"] * 20,
                          "all-MiniLM-L6-v2", 600, turn_templates=Templates())
    assert fitted.exclusive == [True, True]
    return fitted


@pytest.fixture(scope="session")
def specialist_dir(tmp_path_factory) -> Path:
    from llm2slm.training.models import build_classifier, save_specialist
    from llm2slm.training.recipe import Recipe

    recipe = Recipe(kind="classifier", base_model="all-MiniLM-L6-v2", method="full", labels=LABELS, max_length=32)
    model, tokenizer = build_classifier(recipe)
    return save_specialist(model, tokenizer, recipe, tmp_path_factory.mktemp("spec") / "model")


@pytest.fixture(scope="module")
def registry(tmp_path_factory, specialist_dir) -> str:
    """An MLflow store with two registered versions of task-00's specialist; champion on version 1."""
    import mlflow

    from llm2slm.lineage.tracking import ensure_experiment
    from llm2slm.registry.versions import SHAPE_TAG, registry_client
    from llm2slm.training.mlflow_log import log_specialist

    folder = tmp_path_factory.mktemp("mlflow")
    uri = tracking_uri(folder)
    mlflow.set_tracking_uri(uri)
    experiment = ensure_experiment(uri, (folder / "artifacts").as_uri())
    client = registry_client(uri)
    client.create_registered_model(NAME, tags={"llm2slm.task_id": "task-00"})
    for _ in range(2):
        with mlflow.start_run(experiment_id=experiment):
            model_uri = log_specialist(specialist_dir)
        mlflow.register_model(model_uri, NAME, tags={SHAPE_TAG: "closed_label", "llm2slm.route.threshold": "0"})
    client.set_registered_model_alias(NAME, "champion", "1")
    return uri


def make_router(assigner, uri: str, cache: Path, loader=load_registered, budget_s: float = 5.0,
                seed: int | None = 0, shadow_size: int = 100) -> Router:
    worker = InferenceWorker(max_batch=16)
    return Router(Placer(assigner), RouteTable(uri, "llm2slm", cache, refresh_s=0.2, loader=loader), worker,
                  ShadowQueue(worker, shadow_size), budget_s, seed=seed)


@contextmanager
def gateway_with(router: Router, store: CallStore, keyring: KeyRing, upstream_url: str) -> Iterator[str]:
    writer = RecordWriter(store, 1000, 64, 0.0)
    app = create_app(GatewayConfig(upstream_base_url=upstream_url), keyring, writer, "upstream-secret",
                     router=router)
    server = ServerThread(app, free_port()).start()
    try:
        yield server.url
    finally:
        server.stop()


def wait_for(condition: Callable[[], bool], timeout_s: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
