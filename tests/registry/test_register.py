"""The register stage on a real MLflow sqlite registry, with the shipped promotion policy."""

from __future__ import annotations

import json

import yaml

from llm2slm.registry.versions import alias_version, load_policy, register_version, version_figures
from tests.mlflow_factories import log_fixed_model, tracking_uri


def test_register_records_shape_metrics_and_follows_the_policy_mode(tmp_path, repo_root):
    from mlflow import MlflowClient

    uri = tracking_uri(tmp_path)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    shipped = repo_root / "mlflow" / "promotion_policy.yaml"
    rule = load_policy(shipped).metrics["free_text"]
    threshold = rule.threshold
    good = {"agreement": 0.7, "rouge_l": threshold + 0.05, **rule.minimums, "latency_ms_p95": 12.0}
    auto = tmp_path / "auto.yaml"
    auto.write_text(yaml.safe_dump({**yaml.safe_load(shipped.read_text()), "mode": "auto"}))
    model_uri = log_fixed_model(tmp_path)  # one logged model, registered twice: two versions
    first = register_version(uri, "llm2slm-task-02", "task-02", model_uri, "free_text", good,
                             {"llm2slm.candidate": "tiny-generator"},
                               load_policy(auto))
    assert first.name == "llm2slm-task-02" and first.aliases == ["challenger", "champion"]
    shape, metrics = version_figures(client.get_model_version(first.name, first.version))
    assert shape == "free_text" and metrics["rouge_l"] == good["rouge_l"]
    assert "rouge_l" in json.loads(client.get_model_version(first.name, "1").tags["alias.champion"])["why"]

    manual = tmp_path / "manual.yaml"
    manual.write_text(yaml.safe_dump({**yaml.safe_load(shipped.read_text()), "mode": "manual"}))
    better = {**good, "rouge_l": threshold + 0.1}
    second = register_version(uri, "llm2slm-task-02", "task-02", model_uri, "free_text", better, {},
                               load_policy(manual))
    assert second.aliases == ["challenger"] and second.gate_passed and second.mode == "manual"
    assert alias_version(client, first.name, "champion") == first.version
    assert alias_version(client, first.name, "challenger") == second.version


def test_a_retried_registration_of_one_conversion_run_adds_no_version(tmp_path, repo_root):
    uri = tracking_uri(tmp_path)
    policy = load_policy(repo_root / "mlflow" / "promotion_policy.yaml")
    model_uri = log_fixed_model(tmp_path)
    metrics = {"agreement": 0.9, "rouge_l": 0.9, "latency_ms_p95": 12.0}
    run = {"llm2slm.conversion_run": "run-a", "llm2slm.candidate": "tiny-generator"}
    first = register_version(uri, "llm2slm-task-05", "task-05", model_uri, "free_text", metrics, run, policy)
    again = register_version(uri, "llm2slm-task-05", "task-05", model_uri, "free_text", metrics, run, policy)
    assert again.version == first.version == "1"
    other_run = register_version(uri, "llm2slm-task-05", "task-05", model_uri, "free_text", metrics,
                                 {**run, "llm2slm.conversion_run": "run-b"}, policy)
    assert other_run.version == "2"
