"""A shape rule's minimums: validated names, each checked, each miss named; on a real MLflow sqlite registry."""

from __future__ import annotations

import json

import pytest
import yaml

from llm2slm.registry.gate import PromotionPolicy, gate, load_policy
from llm2slm.registry.versions import GateFailed, RegistryError, alias_version, audit_trail, promote, register_version
from tests.mlflow_factories import GATE_RULES, log_fixed_model, tracking_uri

# a tool_call specialist that passes the shipped rule: agreement 0.9 (>= 0.85), non-majority 0.88 (>= 0.85)
PASSING = {"agreement": 0.9, "agreement_non_majority": 0.88, "decision_accuracy": 0.97,
           "function_name_accuracy": 0.96, "argument_exact_match": 0.85, "tool_call_valid": 1.0,
           "n_tool_calls": 40.0, "n_text": 160.0, "latency_ms_p95": 30.0}


@pytest.fixture()
def shipped(repo_root) -> PromotionPolicy:
    return load_policy(repo_root / "mlflow" / "promotion_policy.yaml")


def test_the_shipped_tool_call_rule_checks_each_minimum_and_names_each_miss(shipped):
    assert gate(shipped, "tool_call", PASSING).passed
    missed = {**PASSING, "function_name_accuracy": 0.90, "tool_call_valid": 0.98}
    result = gate(shipped, "tool_call", missed)
    assert not result.passed
    assert [r for r in result.reasons if r.startswith("FAIL")] == [
        "FAIL function_name_accuracy 0.900 < minimum 0.950", "FAIL tool_call_valid 0.980 < minimum 1.000"]
    assert "ok decision_accuracy 0.970 >= minimum 0.950" in result.reasons
    assert result.figures["minimums"]["argument_exact_match"] == 0.80 and result.figures["tool_call_valid"] == 0.98
    assert str(GateFailed(result)) == ("gate failed: FAIL function_name_accuracy 0.900 < minimum 0.950; "
                                       "FAIL tool_call_valid 0.980 < minimum 1.000")


def test_a_minimum_not_measured_fails_unless_the_test_split_has_no_call_for_it():
    rules = {**GATE_RULES, "tool_call": {"metric": "agreement", "threshold": 0.8,
                                         "minimums": {"text_similarity": 0.8, "decision_accuracy": 0.9}}}
    policy = PromotionPolicy(mode="auto", metrics=rules, tolerance=0.02, latency_p95_ms=100)
    no_text = {"agreement": 0.9, "decision_accuracy": 0.95, "n_text": 0.0, "latency_ms_p95": 20.0}
    result = gate(policy, "tool_call", no_text)
    assert result.passed and "ok text_similarity: no call to measure it on (n_text 0)" in result.reasons
    old_version = {"agreement": 0.9, "latency_ms_p95": 20.0}  # evaluated before these figures existed
    assert [r for r in gate(policy, "tool_call", old_version).reasons if r.startswith("FAIL")] == [
        "FAIL text_similarity was not measured for this version", "FAIL decision_accuracy was not measured for "
                                                                  "this version"]


@pytest.mark.parametrize(("edit", "message"), [
    (lambda m: m["tool_call"]["minimums"].update(decison_accuracy=0.9),
     r"metrics\.tool_call\.minimums: unknown figures \['decison_accuracy'\] for shape tool_call; known: "
     r"\['agreement', .*'decision_accuracy'"),
    (lambda m: m["free_text"]["minimums"].update(decision_accuracy=0.9),
     r"metrics\.free_text\.minimums: unknown figures \['decision_accuracy'\] for shape free_text"),
    (lambda m: m["tool_call"]["minimums"].update(tool_call_valid=1.5),
     r"metrics\.tool_call\.minimums\.tool_call_valid: Input should be less than or equal to 1"),
    (lambda m: m["json"].update(metric="rouge_l"), r"metrics\.json\.metric: unknown figure 'rouge_l' for shape json"),
    (lambda m: m["json"].update(minimum={"field_f1": 0.9}), r"metrics\.json\.minimum: Extra inputs are not permitted"),
])
def test_a_bad_rule_in_the_policy_file_is_refused_naming_the_key(repo_root, tmp_path, edit, message):
    data = yaml.safe_load((repo_root / "mlflow" / "promotion_policy.yaml").read_text())
    edit(data["metrics"])
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(RegistryError, match=message):
        load_policy(tmp_path / "policy.yaml")


def test_raw_figures_and_their_counts_may_be_minimums():
    rules = {**GATE_RULES, "tool_call": {"metric": "agreement", "threshold": 0.8,
                                         "minimums": {"raw_text_rouge_l": 0.5}}}
    policy = PromotionPolicy(mode="auto", metrics=rules, tolerance=0.02, latency_p95_ms=100)
    assert gate(policy, "tool_call", {"agreement": 0.9, "raw_n_text": 0.0, "latency_ms_p95": 1.0}).passed
    assert not gate(policy, "tool_call", {"agreement": 0.9, "raw_text_rouge_l": 0.4, "latency_ms_p95": 1.0}).passed


def test_registration_and_promote_follow_the_minimums_on_a_real_registry(tmp_path, shipped):
    from mlflow import MlflowClient

    uri = tracking_uri(tmp_path)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    auto = shipped.model_copy(update={"mode": "auto"})
    model_uri = log_fixed_model(tmp_path, '[{"arguments": {}, "name": "balance"}]')
    weak = {**PASSING, "argument_exact_match": 0.7}
    first = register_version(uri, "llm2slm-task-03", "task-03", model_uri, "tool_call", weak, {}, auto, by="ci")
    assert first.aliases == ["challenger"] and not first.gate_passed
    assert "FAIL argument_exact_match 0.700 < minimum 0.800" in first.gate_reasons
    failed = [e for e in audit_trail(client, first.name) if e["action"] == "gate-failed"]
    assert len(failed) == 1 and failed[0]["figures"]["argument_exact_match"] == 0.7
    with pytest.raises(GateFailed, match=r"^gate failed: FAIL argument_exact_match 0\.700 < minimum 0\.800$"):
        promote(client, first.name, first.version, auto, by="ci")
    assert alias_version(client, first.name, "champion") is None

    second = register_version(uri, "llm2slm-task-03", "task-03", model_uri, "tool_call", PASSING, {}, auto, by="ci")
    assert second.aliases == ["challenger", "champion"] and second.gate_passed
    event = json.loads(client.get_model_version(first.name, second.version).tags["alias.champion"])
    assert event["figures"]["minimums"] == {"decision_accuracy": 0.95, "function_name_accuracy": 0.95,
                                            "argument_exact_match": 0.8, "tool_call_valid": 1.0}
    assert "ok tool_call_valid 1.000 >= minimum 1.000" in event["figures"]["gate_reasons"]
