"""Calibrated deferral on constructed answers and confidences: the curve, the threshold, and the non-majority rule
that keeps a task whose answers are mostly `{}` from being flattered."""

from __future__ import annotations

import pytest

from llm2slm.common.config import EvaluateConfig, RouteConfig
from llm2slm.evaluation.calibration import NO_ROUTE, at_threshold, calibrate, coverage_curve, majority_answer
from llm2slm.evaluation.evaluate import evaluate_specialist
from llm2slm.evaluation.report import render_markdown

# six calls, majority answer "a": confidence, LLM answer, specialist answer (agrees on 4)
CONF = [0.99, 0.95, 0.9, 0.9, 0.8, 0.6]
REF = ["b", "a", "c", "a", "d", "a"]
PRED = ["b", "a", "c", "x", "d", "y"]


def test_the_curve_has_one_point_per_distinct_confidence_with_cumulative_figures():
    curve = coverage_curve(PRED, CONF, REF, "a")
    assert [p.threshold for p in curve] == [0.99, 0.95, 0.9, 0.8, 0.6]
    assert [p.n_covered for p in curve] == [1, 2, 4, 5, 6]  # both 0.9 calls come in together
    assert [p.coverage for p in curve] == pytest.approx([1 / 6, 2 / 6, 4 / 6, 5 / 6, 1.0])
    assert [p.agreement for p in curve] == pytest.approx([1.0, 1.0, 0.75, 0.8, 4 / 6])
    assert [p.n_non_majority for p in curve] == [1, 1, 2, 3, 3]
    assert [p.agreement_non_majority for p in curve] == [1.0, 1.0, 1.0, 1.0, 1.0]


def test_the_threshold_is_the_lowest_that_reaches_the_target_over_enough_calls():
    found = calibrate(PRED, CONF, REF, target=0.8, min_calls=1, majority="a")
    assert found.reached and found.threshold == 0.8  # 0.9 misses (0.75), 0.8 reaches again with more calls
    assert calibrate(PRED, CONF, REF, target=0.8, min_calls=3, majority="a").threshold == 0.8
    assert calibrate(PRED, CONF, REF, target=0.9, min_calls=1, majority="a").threshold == 0.95
    assert calibrate(PRED, CONF, REF, target=0.9, min_calls=3, majority="a").threshold == NO_ROUTE


def test_no_threshold_reaching_the_target_is_a_result_that_answers_nothing():
    found = calibrate(PRED, CONF, REF, target=1.0, min_calls=3, majority="a")
    assert not found.reached and found.threshold == NO_ROUTE > 1 and len(found.curve) == 5
    test = at_threshold(PRED, CONF, REF, found.threshold, "a")
    assert test.n_covered == 0 and test.coverage == 0.0 and test.agreement is None
    with pytest.raises(ValueError, match="not in"):
        calibrate(PRED, CONF, REF, target=0.0, min_calls=1, majority="a")
    with pytest.raises(ValueError, match="6 answers, 5 confidences"):
        coverage_curve(PRED, CONF[:5], REF, "a")


# a slot task: 8 calls whose answer is {} (all right, most confident), 2 with a value (one wrong)
EMPTY = ['{}'] * 8
SLOT_REF = EMPTY + ['{"people": "4"}', '{"date": "friday"}']
SLOT_PRED = EMPTY + ['{"people": "4"}', '{"date": "monday"}']
SLOT_CONF = [0.99] * 8 + [0.98, 0.97]


def test_a_majority_heavy_task_is_not_flattered_by_its_majority_answers():
    assert majority_answer(SLOT_REF) == "{}"
    curve = coverage_curve(SLOT_PRED, SLOT_CONF, SLOT_REF, "{}")
    everything = curve[-1]
    assert everything.agreement == 0.9 and everything.agreement_non_majority == 0.5  # 90% overall hides 50%
    found = calibrate(SLOT_PRED, SLOT_CONF, SLOT_REF, target=0.9, min_calls=1, majority="{}")
    assert found.threshold == 0.98  # not 0.97, which reaches 0.9 on all calls only
    # covering only majority answers says nothing about the others: 0.99 alone does not reach
    assert calibrate(EMPTY, [0.99] * 8, EMPTY, target=0.9, min_calls=1, majority="{}").threshold == NO_ROUTE
    test = at_threshold(SLOT_PRED + ['{"time": "7pm"}'], SLOT_CONF + [0.985], SLOT_REF + ['{"time": "8pm"}'],
                        found.threshold, "{}")
    assert (test.n_calls, test.n_covered, test.n_non_majority) == (11, 10, 2)
    assert test.coverage == pytest.approx(10 / 11) and test.agreement == 0.9 and test.agreement_non_majority == 0.5


def test_the_majority_answer_is_counted_by_meaning():
    answers = ['{"a": 1, "b": 2}', '{"b":2,"a":1}', "yes", "Yes ", "yes", '{"a": 1, "b": 2}']
    assert majority_answer(answers) == '{"a": 1, "b": 2}'  # 3 each: the first one seen wins
    assert majority_answer(["no", "Yes", "yes "]) == "Yes" and majority_answer([]) == ""


class ConfidentByLength:
    """Answers the first word; more confident the shorter the message (a stand-in with known confidences)."""

    def predict_with_confidence(self, rows):
        out = []
        for row in rows:
            text = row["messages"][-1]["content"]
            out.append((text.split()[0], 1.0 / len(text.split())))
        return out

    def predict_rows(self, rows):
        return [a for a, _ in self.predict_with_confidence(rows)]


def _row(i: int, text: str, answer: str) -> dict:
    return {"id": f"c{i}", "messages": [{"role": "user", "content": text}], "tools": None, "answer": answer}


def test_the_evaluation_calibrates_on_validation_calls_and_reports_test_coverage():
    # validation: 1-word calls (confidence 1, the majority answer) and 2-word ones (0.5) agree, 4-word ones do not
    val = [_row(i, "a", "a") for i in range(4)] + [_row(10, "b x", "b"), _row(11, "c x", "c")] + \
          [_row(20 + i, "d x y z", "q") for i in range(2)]
    test = [_row(30, "e", "e"), _row(31, "f", "zz"), _row(32, "g x", "g"), _row(33, "a x y z", "a"),
            _row(34, "a", "a")]
    result = evaluate_specialist("task-05", ConfidentByLength(), test, "closed_label",
                                 EvaluateConfig(latency_calls=1), {}, "stub", calibration_rows=val, majority="a",
                                 route=RouteConfig(target_agreement=0.8, min_calibration_calls=2,
                                                              calibration_z=0.0))
    m = result.metrics
    assert result.calibration.threshold == 0.5 and result.calibration.reached  # 6/6 agree at 0.5; 6/8 at 0.25
    assert m["route_threshold"] == 0.5 and m["route_coverage"] == pytest.approx(4 / 5)
    assert m["route_agreement"] == 0.75 and m["route_agreement_non_majority"] == pytest.approx(2 / 3)
    assert m["agreement"] == 0.8 and m["agreement_non_majority"] == pytest.approx(2 / 3)  # "a" calls all agree
    assert [p.n_covered for p in result.test_curve] == [3, 4, 5]
    assert {"route_coverage", "agreement_non_majority"} <= set(result.figures())
    text = render_markdown("task-05", "stub", [result], "stub", "agreement")
    assert "## Calibrated deferral" in text and "| stub | 0.5000 | 75.0% | 80.0% | 0.750 | 0.667 |" in text


def test_without_calibration_rows_there_is_no_route_figure():
    test = [_row(30, "e", "e"), _row(31, "a", "a")]
    result = evaluate_specialist("task-05", ConfidentByLength(), test, "closed_label",
                                 EvaluateConfig(latency_calls=1), {}, "stub")
    assert result.calibration is None and not any(k.startswith("route_") for k in result.metrics)
    assert result.metrics["agreement_non_majority"] == 1.0  # majority from the test calls: "e" (first seen)


def test_the_target_is_read_on_the_wilson_lower_bound():
    from llm2slm.evaluation.calibration import wilson_lower

    # 90 of 100: centre (0.9 + 1/200) / 1.01, half-width sqrt(0.09/100 + 1/40000) / 1.01
    assert wilson_lower(0.9, 100, 1.0) == pytest.approx((0.905 - (0.0009 + 0.000025) ** 0.5) / 1.01)
    assert wilson_lower(0.9, 100, 0.0) == 0.9 and wilson_lower(1.0, 0, 1.0) == 0.0
    assert wilson_lower(1.0, 50, 1.0) == pytest.approx(50 / 51)  # all agree: n / (n + z^2)
    # one disagreeing call at the top, 100 agreeing below it: the point estimate takes the lowest threshold
    # (100 of 101, 0.990), the lower bound at z = 1 (0.974 for 100 of 101) refuses every threshold
    predicted = ["x"] + ["a"] * 99 + ["b"]
    reference = ["y"] + ["a"] * 99 + ["b"]
    confidences = [0.99] + [0.9 - i / 1000 for i in range(99)] + [0.5]
    reference[-1] = predicted[-1]
    point = calibrate(predicted, confidences, reference, target=0.98, min_calls=50, majority="zz")
    bound = calibrate(predicted, confidences, reference, target=0.98, min_calls=50, majority="zz", z=1.0)
    assert point.threshold == 0.5 and point.reached  # 100 of 101
    assert bound.threshold == NO_ROUTE and not bound.reached and bound.z == 1.0
