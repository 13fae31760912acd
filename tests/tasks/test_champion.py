"""The champion re-evaluated by the task: a real MiniLM classifier specialist registered in a real MLflow sqlite
store, downloaded, scored on the test rows the challenger's evaluation read, its answers cached by call id."""

from __future__ import annotations

import stat

import pytest

from llm2slm.common.artifacts import Artifacts
from llm2slm.common.config import EvaluateConfig
from llm2slm.common.files import write_jsonl
from llm2slm.discovery.catalogue import TaskEntry
from llm2slm.discovery.split import to_example
from llm2slm.evaluation.answer_cache import AnswerCache
from llm2slm.evaluation.evaluate import evaluate_specialist
from tasks.champion import reevaluate_champion
from tasks.evaluate import split_rows, task_majority
from tests.factories import make_record
from tests.mlflow_factories import gate_policy
from tests.tasks.conftest import project_config

LABELS = ["card_arrival", "card_lost"]
SYSTEM = "You route banking support messages to exactly one intent label from the bank's list."
ENTRY = TaskEntry(task_id="task-01", name="card intents", keywords=[], size=20, exemplars=[],
                  output_shape="closed_label", n_distinct_answers=2, tokens={})
NAME = "llm2slm-task-01"
TEXTS = ["my card has not arrived yet", "I lost my card on the bus", "where is my new card", "my card was stolen",
         "card delivery is late", "I cannot find my card anywhere", "still waiting for the card", "card gone missing",
         "has my card been posted", "someone took my wallet and card", "when will the card come", "card lost abroad"]


def _rows(start: int, n: int) -> list[dict]:
    """Calls `start`.. with one in three answered `card_lost` (the train rows' majority is `card_arrival`)."""
    return [to_example(make_record(i, TEXTS[i % len(TEXTS)], answer=LABELS[1] if i % 3 == 0 else LABELS[0],
                                   system=SYSTEM)) for i in range(start, start + n)]


@pytest.fixture(scope="module")
def specialist_dir(tmp_path_factory):
    from llm2slm.training.models import build_classifier, save_specialist
    from llm2slm.training.recipe import Recipe

    recipe = Recipe(kind="classifier", base_model="all-MiniLM-L6-v2", method="full", labels=LABELS, max_length=32)
    model, tokenizer = build_classifier(recipe)
    return save_specialist(model, tokenizer, recipe, tmp_path_factory.mktemp("spec") / "model")


@pytest.fixture()
def cfg(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = project_config(tmp_path)
    write_jsonl(Artifacts(cfg.paths).tasks / "task-01" / "train.jsonl", _rows(100, 9))
    return cfg


def _register_champion(cfg, specialist_dir) -> str:
    import mlflow

    from llm2slm.lineage.tracking import ensure_experiment
    from llm2slm.registry.versions import register_version
    from llm2slm.training.mlflow_log import log_specialist

    mlflow.set_tracking_uri(cfg.mlflow_tracking_uri)
    with mlflow.start_run(experiment_id=ensure_experiment(cfg.mlflow_tracking_uri, cfg.artifact_root())):
        model_uri = log_specialist(specialist_dir)
    metrics = {"agreement": 0.9, "agreement_non_majority": 0.9, "latency_ms_p95": 20.0}
    return register_version(cfg.mlflow_tracking_uri, NAME, "task-01", model_uri, "closed_label", metrics,
                            {"llm2slm.candidate": "minilm"}, gate_policy(), by="ci").version


def _evaluated(cfg, specialist, test_rows):
    """The test split written, and the evaluation of `specialist` on the rows the evaluate task reads from it."""
    write_jsonl(Artifacts(cfg.paths).tasks / "task-01" / "test.jsonl", test_rows)
    rows = split_rows(cfg, "task-01", "test", cfg.evaluate.max_test_calls)
    return evaluate_specialist("task-01", specialist, rows, "closed_label", EvaluateConfig(latency_calls=1), {},
                               "minilm", majority=task_majority(cfg, "task-01", []))


QUALITY = ("agreement", "accuracy", "macro_f1", "agreement_non_majority")


def test_the_champion_scores_as_evaluate_does_and_predicts_only_new_calls(cfg, specialist_dir):
    from llm2slm.serving.specialist import Specialist

    specialist = Specialist.load(specialist_dir)
    scored = _evaluated(cfg, specialist, _rows(0, 6))
    assert reevaluate_champion.fn(cfg, ENTRY, "closed_label", scored) is None  # no registered model yet
    version = _register_champion(cfg, specialist_dir)

    first = reevaluate_champion.fn(cfg, ENTRY, "closed_label", scored)
    assert (first.name, first.version, first.n_calls, first.n_cached, first.n_predicted) == (NAME, version, 6, 0, 6)
    assert {k: first.metrics[k] for k in QUALITY} == {k: scored.metrics[k] for k in QUALITY}
    cache = AnswerCache(Artifacts(cfg.paths).answer_cache)
    kept = cache.read(NAME, version)
    assert sorted(kept) == sorted(r["id"] for r in _rows(0, 6))
    assert stat.S_IMODE(cache.file(NAME, version).stat().st_mode) == 0o600
    assert {stat.S_IMODE(p.stat().st_mode) for p in (cache.root, cache.file(NAME, version).parent)} == {0o700}

    rescored = _evaluated(cfg, specialist, _rows(0, 8))  # two new calls in the test split
    second = reevaluate_champion.fn(cfg, ENTRY, "closed_label", rescored)
    assert (second.n_calls, second.n_cached, second.n_predicted) == (8, 6, 2)
    assert {k: second.metrics[k] for k in QUALITY} == {k: rescored.metrics[k] for k in QUALITY}
    again = cache.read(NAME, version)
    assert {i: again[i] for i in kept} == kept and len(again) == 8  # the old calls' answers as they were


def test_an_evaluations_n_test_reads_back_exactly_its_sample(cfg):
    write_jsonl(Artifacts(cfg.paths).tasks / "task-01" / "test.jsonl", _rows(0, 12))
    for limit in (3, 7, 12, 50):
        rows = split_rows(cfg, "task-01", "test", limit)
        assert split_rows(cfg, "task-01", "test", len(rows)) == rows
