"""The benchmarks' scores: token-level P/R/F2 of the PII benchmark (scikit-learn) and the span tagger's field F1
(the evaluate stage's own JSON metric) equal the figures counted by hand."""

from __future__ import annotations

import pytest

from benchmarks.pii import prf
from benchmarks.span_tagger import field_scores


def _f2(tp: int, fp: int, fn: int) -> float:
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    return 5 * precision * recall / (4 * precision + recall)


def test_pii_scores_per_type_overall_and_type_agnostic():
    gold = ["PERSON", "PERSON", "EMAIL", "O", "O", "PHONE", "EMAIL"]
    pred = ["PERSON", "O", "EMAIL", "PERSON", "OTHER:NRP", "EMAIL", "EMAIL"]
    # PERSON: tp 1, fp 1, fn 1
    assert prf(gold, pred, ["PERSON"]) == pytest.approx((0.5, 0.5, _f2(1, 1, 1)))
    assert prf(gold, pred, ["SSN"]) == (0.0, 0.0, 0.0)  # neither side uses it
    # every type: tp 3 (PERSON, EMAIL x2), fp 3 (PERSON, OTHER:NRP, EMAIL for PHONE), fn 2 (PERSON, PHONE)
    assert prf(gold, pred) == pytest.approx((3 / 6, 3 / 5, _f2(3, 3, 2)))
    # found at all: tp 4 (a wrong-type find counts), fp 2, fn 1
    assert prf(gold, pred, []) == pytest.approx((4 / 6, 4 / 5, _f2(4, 2, 1)))


def test_span_tagger_field_scores():
    reference = ['{"date": "monday", "people": "4"}', '{"date": "friday", "people": "2"}']
    predicted = ['{"people": "4", "date": "monday"}', '{"date": "friday", "people": "3"}']
    scores = field_scores(predicted, reference)
    # pairs: tp 3, fp 1, fn 1; neither answer is the same string as the LLM's (the keys are reordered)
    assert scores == pytest.approx({"field_f1": 0.75, "precision": 0.75, "recall": 0.75, "exact": 0.0})
    assert field_scores(["not json"], ['{"a": "b"}']) == {"field_f1": 0.0, "precision": 0.0, "recall": 0.0,
                                                           "exact": 0.0}
