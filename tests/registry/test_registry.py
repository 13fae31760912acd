"""The champion gate, promote, rollback and force on a real MLflow sqlite registry."""

from __future__ import annotations

import json

import pytest
import yaml

from llm2slm.registry.versions import (
    GateFailed,
    PromotionPolicy,
    RegistryError,
    alias_version,
    audit_trail,
    champion_history,
    gate,
    load_policy,
    promote,
    register_version,
    rollback,
    route_tags,
    route_threshold,
)
from tests.mlflow_factories import GATE_RULES, gate_policy, log_fixed_model, tracking_uri

GOOD = {"agreement": 0.92, "latency_ms_p95": 20.0}
BAD = {"agreement": 0.40, "latency_ms_p95": 20.0}


def _policy(mode="auto", **extra) -> PromotionPolicy:
    return gate_policy(mode, **extra)


@pytest.fixture()
def store(tmp_path):
    from mlflow import MlflowClient

    uri = tracking_uri(tmp_path)
    return tmp_path, uri, MlflowClient(tracking_uri=uri, registry_uri=uri)


def _register(folder, uri, metrics, policy, answer="yes"):
    return register_version(uri, "llm2slm-task-01", "task-01", log_fixed_model(folder, answer), "closed_label",
                            metrics, {"llm2slm.candidate": "fixed"}, policy, by="ci")


def test_the_shipped_policy_loads_and_a_bad_one_names_the_field(repo_root, tmp_path):
    policy = load_policy(repo_root / "mlflow" / "promotion_policy.yaml")
    assert policy.mode in ("auto", "manual") and "free_text" in policy.metrics
    data = yaml.safe_load((repo_root / "mlflow" / "promotion_policy.yaml").read_text())
    del data["metrics"]["tool_call"]
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(RegistryError, match=r"metrics: .*no rule for shapes \['tool_call'\]"):
        load_policy(tmp_path / "p.yaml")


def test_gate_checks_threshold_champion_tolerance_and_latency():
    policy = _policy()
    assert gate(policy, "json", GOOD).passed
    assert not gate(policy, "json", BAD).passed
    assert gate(policy, "json", GOOD, {"agreement": 0.93}).passed  # within the 0.02 tolerance
    worse = gate(policy, "json", GOOD, {"agreement": 0.99})
    assert not worse.passed and any("champion 0.990" in r for r in worse.reasons)
    slow = gate(policy, "json", {"agreement": 0.95, "latency_ms_p95": 250.0})
    assert not slow.passed and any(r.startswith("FAIL latency p95 250.0 ms") for r in slow.reasons)
    assert not gate(policy, "json", {"latency_ms_p95": 1.0}).passed  # metric not measured


def test_the_non_majority_rule_fails_a_version_flattered_by_its_majority_answer():
    rules = {**GATE_RULES, "json_spans": {"metric": "agreement", "threshold": 0.8, "non_majority_threshold": 0.85}}
    policy = PromotionPolicy(mode="auto", metrics=rules, tolerance=0.02, latency_p95_ms=100)
    honest = gate(policy, "json_spans", {**GOOD, "agreement_non_majority": 0.88})
    assert honest.passed and "ok agreement_non_majority 0.880 >= threshold 0.850" in honest.reasons
    flattered = gate(policy, "json_spans", {**GOOD, "agreement_non_majority": 0.74})  # 0.92 overall
    assert not flattered.passed and "FAIL agreement_non_majority 0.740 < threshold 0.850" in flattered.reasons
    assert flattered.figures["agreement_non_majority"] == 0.74 and flattered.figures["non_majority_threshold"] == 0.85
    unmeasured = gate(policy, "json_spans", GOOD)
    assert not unmeasured.passed and "FAIL agreement_non_majority was not measured for this version" in \
        unmeasured.reasons
    assert gate(policy, "json", GOOD).passed  # a shape without the rule is judged as before
    with pytest.raises(ValueError, match="non_majority_threshold"):
        PromotionPolicy(mode="auto", metrics={**rules, "json": {"metric": "agreement", "threshold": 0.8,
                                                                "non_majority_threshold": 1.5}},
                        tolerance=0.02, latency_p95_ms=100)


def test_the_shipped_policy_passes_the_demo_models_non_majority_figures(repo_root):
    policy = load_policy(repo_root / "mlflow" / "promotion_policy.yaml")
    measured = {"closed_label": (0.950, 0.928), "json_spans": (0.915, 0.881)}  # docs/benchmarks.md, calibration
    for shape, (agreement, non_majority) in measured.items():
        result = gate(policy, shape, {"agreement": agreement, "agreement_non_majority": non_majority,
                                      "latency_ms_p95": 20.0})
        assert result.passed, result.reasons


def test_the_deferral_threshold_round_trips_through_the_version_tags(store):
    folder, uri, client = store
    tags = {"llm2slm.candidate": "fixed", **route_tags(0.9610989093780518, 0.98)}
    first = register_version(uri, "llm2slm-task-01", "task-01", log_fixed_model(folder), "closed_label",
                             {**GOOD, "route_coverage": 0.783}, tags, _policy(), by="ci")
    version = client.get_model_version(first.name, first.version)
    assert version.tags["llm2slm.route.threshold"] == "0.9610989093780518"
    assert version.tags["llm2slm.route.target_agreement"] == "0.98"
    assert version.tags["metric.route_coverage"] == "0.783"
    assert route_threshold(version) == 0.9610989093780518  # exactly the calibrated float
    none_reached = register_version(uri, "llm2slm-task-01", "task-01", log_fixed_model(folder), "closed_label", GOOD,
                                    {"llm2slm.candidate": "other", **route_tags(1.01, 0.98)}, _policy(), by="ci")
    assert route_threshold(client.get_model_version(first.name, none_reached.version)) == 1.01
    untagged = register_version(uri, "llm2slm-task-01", "task-01", log_fixed_model(folder), "closed_label", GOOD,
                                {"llm2slm.candidate": "old"}, _policy(), by="ci")
    assert route_threshold(client.get_model_version(first.name, untagged.version)) is None


def test_a_gate_failure_leaves_champion_then_force_and_rollback_are_recorded(store):
    import mlflow

    folder, uri, client = store
    policy = _policy()
    first = _register(folder, uri, GOOD, policy, answer="v1")
    assert first.aliases == ["challenger", "champion"] and first.gate_passed
    second = _register(folder, uri, BAD, policy, answer="v2")
    assert second.aliases == ["challenger"] and not second.gate_passed
    name = "llm2slm-task-01"
    assert alias_version(client, name, "champion") == first.version
    assert alias_version(client, name, "challenger") == second.version

    with pytest.raises(GateFailed, match="agreement 0.400 < threshold 0.800"):
        promote(client, name, second.version, policy, by="rm")
    assert alias_version(client, name, "champion") == first.version
    with pytest.raises(RegistryError, match="--force needs --reason"):
        promote(client, name, second.version, policy, by="rm", force=True)

    forced = promote(client, name, second.version, policy, by="rm", why="hotfix for a new intent", force=True)
    assert forced.action == "force-promote" and forced.previous == first.version
    tag = json.loads(client.get_model_version(name, second.version).tags["alias.champion"])
    assert tag["by"] == "rm" and tag["why"] == "hotfix for a new intent" and tag["at"].endswith("+00:00")
    assert tag["figures"]["value"] == 0.4 and tag["figures"]["gate_passed"] is False
    assert champion_history(client, name) == [first.version, second.version]
    assert mlflow.pyfunc.load_model(f"models:/{name}@champion").predict([{"messages": []}]) == ["v2"]

    back = rollback(client, name, by="rm", why="complaints")
    assert back.version == first.version and alias_version(client, name, "champion") == first.version
    assert mlflow.pyfunc.load_model(f"models:/{name}@champion").predict([{"messages": []}]) == ["v1"]
    actions = [(e["version"], e["action"], e["alias"], e["by"]) for e in audit_trail(client, name)]
    assert (second.version, "force-promote", "champion", "rm") in actions
    assert (first.version, "rollback", "champion", "rm") in actions
    assert (second.version, "lost", "champion", "rm") in actions
    assert (second.version, "gate-failed", "champion", "ci") in actions
    with pytest.raises(RegistryError, match="no previous champion before version"):
        rollback(client, name, by="rm")


def test_manual_mode_waits_for_promote_and_errors_name_the_problem(store):
    folder, uri, client = store
    policy = _policy(mode="manual")
    first = _register(folder, uri, GOOD, policy)
    assert first.aliases == ["challenger"] and first.gate_passed
    name = "llm2slm-task-01"
    assert alias_version(client, name, "champion") is None
    with pytest.raises(RegistryError, match="no champion to roll back"):
        rollback(client, name)
    move = promote(client, name, first.version, policy, by="rm")
    assert move.action == "promote" and alias_version(client, name, "champion") == first.version
    with pytest.raises(RegistryError, match="already the champion"):
        promote(client, name, first.version, policy)
    with pytest.raises(RegistryError, match="has no version '9'"):
        promote(client, name, "9", policy)
    with pytest.raises(RegistryError, match="no registered model 'llm2slm-task-77'"):
        promote(client, "llm2slm-task-77", "1", policy)


def test_registering_versions_prints_nothing_on_the_users_terminal(store, capfd):
    folder, uri, _ = store
    model_uri = log_fixed_model(folder)
    capfd.readouterr()
    first = _register(folder, uri, GOOD, _policy(), answer="v1")
    second = register_version(uri, "llm2slm-task-01", "task-01", model_uri, "closed_label", GOOD,
                              {"llm2slm.candidate": "again"}, _policy(), by="ci")
    out, err = capfd.readouterr()
    assert (first.version, second.version) == ("1", "2")
    assert "Created version" not in err and "already exists" not in err and out == ""
