"""The evaluate run in a real MLflow store: the scrubbed and raw figures side by side, or why the raw one is missing."""

from __future__ import annotations

from llm2slm.discovery.catalogue import TaskEntry
from llm2slm.evaluation.evaluate import Evaluation
from tasks.track import start_conversion, track_evaluation
from tests.tasks.conftest import project_config

ENTRY = TaskEntry(task_id="task-01", name="contact or not", keywords=[], size=100, exemplars=[],
                  output_shape="closed_label", n_distinct_answers=2, tokens={})
METRICS = {"agreement": 0.923, "accuracy": 0.923, "latency_ms_p50": 3.0, "latency_ms_p95": 5.0}


def _scores(**extra) -> Evaluation:
    return Evaluation(task_id="task-01", candidate="minilm-classifier", output_shape="closed_label", n_test=40,
                      metrics=METRICS, usage_source="logged", examples=[], **extra)


def test_the_evaluate_run_logs_both_figures_or_why_the_raw_one_is_missing(tmp_path, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = project_config(tmp_path)
    ctx = start_conversion.fn(cfg)
    client = MlflowClient(ctx.tracking_uri)
    measured = client.get_run(track_evaluation.fn(ctx, ENTRY, _scores(raw_metrics={"agreement": 0.872,
                                                                                   "accuracy": 0.872}, n_raw=40)))
    assert measured.data.metrics == {**METRICS, "raw_agreement": 0.872, "raw_accuracy": 0.872, "n_raw": 40.0,
                                     "n_test": 40.0}
    assert "raw_skipped" not in measured.data.params
    skipped = client.get_run(track_evaluation.fn(ctx, ENTRY, _scores(raw_skipped="the call store could not be read")))
    assert skipped.data.metrics == {**METRICS, "n_test": 40.0}
    assert skipped.data.params["raw_skipped"] == "the call store could not be read"
