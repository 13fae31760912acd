"""The closed-label figures come from scikit-learn: the same numbers as counting by hand."""

from __future__ import annotations

import pytest

from llm2slm.evaluation.metrics import label_metrics


def test_accuracy_and_macro_f1_equal_the_hand_counted_figures():
    reference = ["refund", "refund", "card", "card", "card", "pin"]
    predicted = ["refund", "card", "card", "card", "other", "pin"]
    # per label F1 = 2 * hits / (predicted + reference): refund 2/3, card 2*2/(3+3), pin 1, other 0 (never right)
    figures = label_metrics(predicted, reference)
    assert figures["accuracy"] == pytest.approx(4 / 6)
    assert figures["macro_f1"] == pytest.approx((2 / 3 + 4 / 6 + 1.0 + 0.0) / 4)


def test_labels_compare_exactly_and_no_calls_score_zero():
    assert label_metrics(["Refund", "refund "], ["refund", "refund"]) == {"accuracy": 0.0, "macro_f1": 0.0}
    assert label_metrics([], []) == {"accuracy": 0.0, "macro_f1": 0.0}
