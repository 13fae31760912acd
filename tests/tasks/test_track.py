"""The evaluate run in a real MLflow store: the scrubbed and raw figures side by side, or why the raw one is missing."""

from __future__ import annotations

import json

from llm2slm.discovery.catalogue import TaskEntry
from llm2slm.evaluation.calibration import calibrate, coverage_curve
from llm2slm.evaluation.evaluate import Evaluation
from tasks.register import register
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


def _calibrated() -> Evaluation:
    answers, reference = ["a", "b", "c", "x"], ["a", "b", "c", "d"]
    confidences = [0.99, 0.9, 0.8, 0.5]
    calibration = calibrate(answers, confidences, reference, 0.98, 2, "a")
    metrics = {**METRICS, "agreement_non_majority": 0.9, "route_threshold": calibration.threshold,
               "route_coverage": 0.75, "route_agreement": 1.0}
    return _scores(calibration=calibration, test_curve=coverage_curve(answers, confidences, reference, "a")) \
        .model_copy(update={"metrics": metrics})


def test_the_evaluate_run_holds_the_coverage_agreement_plot_and_curves(tmp_path, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    ctx = start_conversion.fn(project_config(tmp_path))
    client = MlflowClient(ctx.tracking_uri)
    run_id = track_evaluation.fn(ctx, ENTRY, _calibrated())
    run = client.get_run(run_id)
    assert run.data.metrics["route_threshold"] == 0.8 and run.data.metrics["route_coverage"] == 0.75
    assert run.data.params["route.target_agreement"] == "0.98"
    assert {f.path for f in client.list_artifacts(run_id, "deferral")} == {"deferral/coverage_agreement.png",
                                                                          "deferral/coverage_agreement.json"}
    png = client.download_artifacts(run_id, "deferral/coverage_agreement.png", str(tmp_path))
    assert open(png, "rb").read()[:8] == b"\x89PNG\r\n\x1a\n"
    record = json.loads(open(client.download_artifacts(run_id, "deferral/coverage_agreement.json",
                                                       str(tmp_path))).read())
    assert record["threshold"] == 0.8 and record["target_agreement"] == 0.98 and record["reached"]
    assert [p["n_covered"] for p in record["validation"]] == [1, 2, 3, 4] and len(record["test"]) == 4
    uncalibrated = track_evaluation.fn(ctx, ENTRY, _scores())
    assert client.list_artifacts(uncalibrated, "deferral") == []


def test_register_stores_the_calibrated_threshold_with_the_version(tmp_path, monkeypatch):
    from mlflow import MlflowClient

    from llm2slm.registry.versions import route_threshold
    from tests.mlflow_factories import log_fixed_model, tracking_uri

    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri(tmp_path))  # where log_fixed_model logs
    cfg = project_config(tmp_path)
    model_uri = log_fixed_model(tmp_path)
    best = _calibrated()
    best = best.model_copy(update={"metrics": {**best.metrics, "agreement": 0.95, "latency_ms_p95": 5.0}})
    version = register.fn(cfg, ENTRY, model_uri, best, {})
    stored = MlflowClient(cfg.mlflow_tracking_uri).get_model_version(version.name, version.version)
    assert route_threshold(stored) == 0.8 and stored.tags["llm2slm.route.target_agreement"] == "0.98"
    assert stored.tags["metric.agreement_non_majority"] == "0.9" and version.gate_passed
