"""The raw figure: the test calls as captured, scored like the scrubbed ones; the log line and report show both."""

from __future__ import annotations

import logging

import pytest

from llm2slm.common.config import EvaluateConfig
from llm2slm.discovery.split import to_example
from llm2slm.evaluation.evaluate import evaluate_specialist, sample_rows
from llm2slm.evaluation.raw import CapturedRows, captured_rows
from llm2slm.evaluation.report import render_markdown
from tests.factories import PlaceholderSpotter, make_record

CFG = EvaluateConfig(max_test_calls=6, latency_calls=2)


def _calls(n: int = 10) -> tuple[list, list]:
    """(captured, scrubbed) records: the first 6 mention an e-mail address (the LLM answers `contact`)."""
    captured, scrubbed = [], []
    for i in range(n):
        mail = i < 6
        captured.append(make_record(i, f"case {i}: write to ann{i}@mail.com" if mail else f"case {i}: call me",
                                    answer="contact" if mail else "other"))
        scrubbed.append(make_record(i, f"case {i}: write to <EMAIL_1>" if mail else f"case {i}: call me",
                                    answer="contact" if mail else "other"))
    return captured, scrubbed


def test_captured_rows_are_the_test_rows_calls_in_their_order_as_the_split_makes_them():
    captured, scrubbed = _calls()
    rows = sample_rows([to_example(r) for r in scrubbed], 5, seed=3)
    raw = captured_rows(reversed(captured), rows)
    assert [r["id"] for r in raw] == [r["id"] for r in rows]
    by_id = {r.id: r for r in captured}
    assert raw == [to_example(by_id[r["id"]]) for r in rows]
    assert any("@mail.com" in r["messages"][-1]["content"] for r in raw)


def test_an_id_the_store_does_not_hold_is_left_out():
    captured, scrubbed = _calls()
    rows = [to_example(r) for r in scrubbed[:3]] + [{**to_example(scrubbed[3]), "id": "call-999999"}]
    assert [r["id"] for r in captured_rows(captured, rows)] == ["call-000000", "call-000001", "call-000002"]


def test_a_specialist_that_leans_on_placeholders_scores_lower_on_raw_calls(caplog):
    captured, scrubbed = _calls()
    rows = [to_example(r) for r in scrubbed]
    raw = CapturedRows(rows=captured_rows(captured, rows))
    caplog.set_level(logging.INFO, logger="llm2slm.evaluate")
    result = evaluate_specialist("task-01", PlaceholderSpotter(), rows, "closed_label", CFG, {}, "spotter", raw)
    assert result.agreement == 1.0 and result.metrics["accuracy"] == 1.0
    assert result.raw_agreement == pytest.approx(0.4) and result.raw_metrics["accuracy"] == pytest.approx(0.4)
    # no latency or cost on raw calls; non-majority: the calls whose answer is not "contact" (6 of the 10 are)
    assert set(result.raw_metrics) == {"agreement", "agreement_non_majority", "accuracy", "macro_f1"}
    assert result.n_raw == result.n_test == 10 and result.raw_skipped == ""
    assert all("@mail.com" not in e["llm"] + e["specialist"] for e in result.examples)
    figures = result.figures()
    assert figures["raw_agreement"] == pytest.approx(0.4) and figures["n_raw"] == 10.0
    assert figures["agreement"] == 1.0 and "raw_latency_ms_p50" not in figures
    (line,) = [r.getMessage() for r in caplog.records if r.name == "llm2slm.evaluate"]
    assert line.startswith("task task-01 (spotter): agreement 1.000 scrubbed / 0.400 raw on 10 calls")


def test_the_raw_figure_on_fewer_calls_says_on_how_many(caplog):
    captured, scrubbed = _calls()
    rows = [to_example(r) for r in scrubbed]
    raw = CapturedRows(rows=captured_rows(captured[:5], rows))
    caplog.set_level(logging.INFO, logger="llm2slm.evaluate")
    result = evaluate_specialist("task-01", PlaceholderSpotter(), rows, "closed_label", CFG, {}, "spotter", raw)
    assert result.n_raw == 5 and result.raw_agreement == 0.0
    assert "agreement 1.000 scrubbed / 0.000 raw (5 calls) on 10 calls" in caplog.records[-1].getMessage()


def test_without_captured_calls_the_raw_figure_is_skipped_and_says_why(caplog):
    _, scrubbed = _calls()
    rows = [to_example(r) for r in scrubbed]
    caplog.set_level(logging.INFO, logger="llm2slm.evaluate")
    skipped = CapturedRows(skipped="the call store could not be read: no call store at /x")
    result = evaluate_specialist("task-01", PlaceholderSpotter(), rows, "closed_label", CFG, {}, "spotter", skipped)
    assert result.raw_metrics == {} and result.raw_agreement is None and result.n_raw == 0
    assert result.raw_skipped == "the call store could not be read: no call store at /x"
    assert "n_raw" not in result.figures() and result.figures() == result.metrics
    assert "agreement 1.000 scrubbed / raw skipped (the call store could not be read: no call store at /x)" in \
        caplog.records[-1].getMessage()
    assert evaluate_specialist("task-01", PlaceholderSpotter(), rows, "closed_label", CFG, {}).raw_skipped == \
        "not measured"


def test_the_report_shows_a_raw_row_per_candidate_or_why_there_is_none():
    captured, scrubbed = _calls()
    rows = [to_example(r) for r in scrubbed]
    measured = evaluate_specialist("task-01", PlaceholderSpotter(), rows, "closed_label", CFG, {}, "spotter",
                                   CapturedRows(rows=captured_rows(captured, rows)))
    text = render_markdown("task-01", "contact or not", [measured], "spotter", "agreement")
    assert "| spotter | 1.000 | 1.000 | 1.000 | 1.000 |" in text  # agreement, non-majority, accuracy, macro-F1
    # raw, it misses only the majority answer
    assert "| spotter (raw) | 0.400 | 1.000 | 0.400 |" in text and "Rows `(raw)`: the same test calls as captured" in text
    assert "@mail.com" not in text  # the examples come from the scrubbed calls only
    skipped = measured.model_copy(update={"candidate": "other", "raw_metrics": {}, "n_raw": 0,
                                          "raw_skipped": "the call store could not be read: no call store at /x"})
    text = render_markdown("task-01", "contact or not", [measured, skipped], "spotter", "agreement")
    assert "| other (raw) |" not in text
    assert "No figure on the test calls as captured for other: the call store could not be read: no call store " \
           "at /x." in text
