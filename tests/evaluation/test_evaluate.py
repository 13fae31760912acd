"""Evaluation by output shape, the cost comparison, and the per-task report, on real models and files."""

from __future__ import annotations

import json

import pytest

from llm2slm.common.config import EvaluateConfig, TokenPrice
from llm2slm.evaluation.costs import llm_cost_per_1k, logged_usage, price_for, specialist_cost_per_1k
from llm2slm.evaluation.metrics import shape_metrics
from llm2slm.common.snapshot import write_snapshot
from llm2slm.discovery.split import to_example
from llm2slm.evaluation.evaluate import best_evaluation, evaluate_specialist, sample_rows
from llm2slm.evaluation.report import write_report
from tests.factories import make_record


def test_label_metrics_accuracy_and_macro_f1():
    m = shape_metrics("closed_label", ["a", "a", "b", "b"], ["a", "b", "b", "b"])
    assert m["accuracy"] == m["agreement"] == 0.75
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)  # F1(a) = 2/3, F1(b) = 0.8


def test_json_metrics_validity_and_field_f1():
    reference = ['{"date": "monday", "people": "4"}', '{"date": "friday", "people": "2"}']
    predicted = ['{"people": "4", "date": "monday"}', 'not json']
    m = shape_metrics("json_spans", predicted, reference)
    assert m["json_valid"] == 0.5 and m["agreement"] == 0.5
    assert m["field_precision"] == 1.0 and m["field_recall"] == 0.5 and m["field_f1"] == pytest.approx(2 / 3)


def test_tool_call_metrics_are_order_free_and_check_arguments():
    ref = json.dumps([{"name": "book", "arguments": {"day": "mon"}}, {"name": "pay", "arguments": {"eur": 5}}])
    same_other_order = json.dumps([{"name": "pay", "arguments": '{"eur": 5}'}, {"name": "book",
                                                                                  "arguments": {"day": "mon"}}])
    wrong_argument = json.dumps([{"name": "book", "arguments": {"day": "tue"}}, {"name": "pay",
                                                                                  "arguments": {"eur": 5}}])
    m = shape_metrics("tool_call", [same_other_order, wrong_argument, "I cannot"], [ref, ref, ref])
    assert m["function_name_accuracy"] == pytest.approx(2 / 3) and m["argument_exact_match"] == pytest.approx(1 / 3)


def test_free_text_rouge_l():
    m = shape_metrics("free_text", ["the card arrives on monday", "no"], ["the card arrives monday", "yes"])
    assert m["rouge_l"] == pytest.approx((2 * 0.8 * 1.0 / 1.8) / 2)  # LCS 4 of 5 and 4 words; then 0
    with pytest.raises(ValueError, match="unknown output shape 'table'"):
        shape_metrics("table", [], [])


def test_llm_cost_uses_logged_usage_and_the_longest_price_prefix(tmp_path):
    prices = {"default": TokenPrice(prompt=1.0, completion=1.0), "gpt-4o": TokenPrice(prompt=2.5, completion=10.0),
              "gpt-4o-mini": TokenPrice(prompt=0.15, completion=0.6)}
    assert price_for("gpt-4o-mini-2024", prices).prompt == 0.15 and price_for("claude", prices).prompt == 1.0
    records = [make_record(i, f"q{i}") for i in range(3)]  # 20 prompt + 5 completion tokens, gpt-4o-2024-08-06
    write_snapshot(records, tmp_path / "curated.parquet")
    rows = [to_example(r) for r in records]
    usage = logged_usage(tmp_path / "curated.parquet", {r["id"] for r in rows[:2]})
    assert set(usage) == {rows[0]["id"], rows[1]["id"]} and usage[rows[0]["id"]].prompt_tokens == 20
    cost, source = llm_cost_per_1k(rows[:2], usage, prices)
    assert source == "logged" and cost == pytest.approx(1000 * (20 * 2.5 + 5 * 10.0) / 1e6)
    assert llm_cost_per_1k(rows, usage, prices)[1] == "mixed"
    assert specialist_cost_per_1k(0.036, 2, 0.05) == pytest.approx(1000 * 0.036 * 2 * 0.05 / 3600)


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
    """A real MiniLM classifier specialist folder (untrained head): what evaluate loads and times."""
    from llm2slm.training.models import build_classifier, save_specialist
    from llm2slm.training.recipe import Recipe

    recipe = Recipe(kind="classifier", base_model="all-MiniLM-L6-v2", method="full", labels=["card", "rate"],
                    max_length=32)
    model, tokenizer = build_classifier(recipe)
    return save_specialist(model, tokenizer, recipe, tmp_path_factory.mktemp("spec") / "model")


@pytest.mark.slow  # builds and loads a MiniLM classifier: ~20-40 s on a loaded 2-core machine
def test_evaluate_scores_times_prices_and_reports_a_classifier(tmp_path, classifier_dir):
    records = [make_record(i, f"{'card' if i % 2 else 'rate'} question {i}", answer="card" if i % 2 else "rate")
               for i in range(12)]
    write_snapshot(records, tmp_path / "curated.parquet")
    from llm2slm.serving.specialist import Specialist

    cfg = EvaluateConfig(max_test_calls=10, latency_calls=4)
    rows = sample_rows([to_example(r) for r in records], cfg.max_test_calls)
    usage = logged_usage(tmp_path / "curated.parquet", {r["id"] for r in rows})
    specialist = Specialist.load(classifier_dir)
    result = evaluate_specialist("task-01", specialist, rows, "closed_label", cfg, usage, candidate="minilm-classifier")
    m = result.metrics
    assert result.n_test == 10 and result.usage_source == "logged"
    assert {"agreement", "accuracy", "macro_f1", "latency_ms_p50", "latency_ms_p95", "calls_per_s"} <= set(m)
    assert 0 <= m["agreement"] <= 1 and m["latency_ms_p95"] >= m["latency_ms_p50"] > 0 and m["calls_per_s"] > 0
    assert m["cost_per_1k_llm_usd"] == pytest.approx(1000 * (20 * 2.5 + 5 * 10.0) / 1e6)
    assert 0 < m["cost_per_1k_specialist_usd"] < m["cost_per_1k_llm_usd"]

    other = result.model_copy(update={"candidate": "other", "metrics": {**m, "agreement": m["agreement"] + 0.5}})
    assert best_evaluation([result, other], "agreement").candidate == "other"
    md, png = write_report("task-01", "card or rate", [result, other], "other", "agreement", tmp_path / "report")
    text = md.read_text()
    assert "| minilm-classifier |" in text and "| other |" in text and "macro_f1" in text
    assert "from logged token usage" in text and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="has no test calls"):
        evaluate_specialist("task-02", specialist, [], "closed_label", cfg, {})
