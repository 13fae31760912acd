"""Calibrated deferral: the confidence above which a specialist answers a call itself, the LLM answering the rest.

A call is covered at threshold t when the specialist's confidence in its answer is >= t. For every distinct
threshold the curve gives the share of calls covered, the agreement with the LLM on them (`answers_agree`), and
the agreement on the covered calls whose LLM answer is not the task's most frequent one (non-majority): a task
whose answers are mostly `{}` can agree on most calls while getting the others wrong, so a threshold is chosen
only when both figures reach the target. The calibrated threshold is the lowest such threshold that covers at
least `min_calls` calls (the most coverage that keeps the target); when none does, it is `NO_ROUTE` (above any
confidence: the specialist answers nothing), which is a result, not an error.

The target is read on a lower confidence bound of the agreement, not on the point estimate: with `z` > 0 a
threshold is chosen only when the Wilson score interval's lower end (z standard errors) of both agreements
reaches the target. Taking the lowest threshold whose point estimate reaches the target picks, among many
thresholds, the one that was luckiest on a few hundred validation calls, so on new calls it falls short; measured
on the demo's tasks, the point estimate calibrated to 0.98 gave 97.5-97.8% on their test calls.

The majority answer is the task's most frequent answer on its training split (`majority_answer`), counted by
meaning; the evaluation falls back on the calibration rows when it has no training answers.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from pydantic import BaseModel

from llm2slm.evaluation.agreement import answer_key, answers_agree

NO_ROUTE = 1.01  # the threshold when none reaches the target: above every confidence (they are in [0, 1])


class CurvePoint(BaseModel):
    threshold: float
    n_covered: int
    coverage: float  # n_covered / calls
    agreement: float  # on the covered calls
    n_non_majority: int  # covered calls whose LLM answer is not the majority answer
    agreement_non_majority: float | None  # on those; None when there are none


class Calibration(BaseModel):
    target: float
    min_calls: int
    z: float = 0.0  # standard errors below the point estimate the target is read at (Wilson lower bound)
    majority: str
    n_calls: int
    threshold: float  # NO_ROUTE when `reached` is False
    reached: bool
    curve: list[CurvePoint]


class RouteFigures(BaseModel):
    """What a threshold gives on a split: agreements are None where it covers no call (no non-majority call)."""

    threshold: float
    n_calls: int
    n_covered: int
    coverage: float
    agreement: float | None
    n_non_majority: int
    agreement_non_majority: float | None


def majority_answer(answers: Sequence[str]) -> str:
    """The most frequent answer by meaning (the first one seen among equally frequent ones); "" when none."""
    if not answers:
        return ""
    counts = Counter(answer_key(a) for a in answers)
    top = max(counts.values())
    return next(a for a in answers if counts[answer_key(a)] == top)


def non_majority_agreement(predicted: Sequence[str], reference: Sequence[str], majority: str) -> float | None:
    """Agreement on the calls whose LLM answer is not `majority`; None when every call's is."""
    pairs = [(p, r) for p, r in zip(predicted, reference, strict=True) if not answers_agree(r, majority)]
    return sum(answers_agree(p, r) for p, r in pairs) / len(pairs) if pairs else None


def _check(predicted: Sequence[str], confidences: Sequence[float], reference: Sequence[str]) -> None:
    if not len(predicted) == len(confidences) == len(reference):
        raise ValueError(f"{len(predicted)} answers, {len(confidences)} confidences, {len(reference)} references")


def coverage_curve(predicted: Sequence[str], confidences: Sequence[float], reference: Sequence[str],
                   majority: str) -> list[CurvePoint]:
    """One point per distinct confidence, highest threshold first: the calls at or above it and how they agree."""
    _check(predicted, confidences, reference)
    order = sorted(range(len(reference)), key=lambda i: -confidences[i])
    points: list[CurvePoint] = []
    covered = agreed = minority = minority_agreed = 0
    for k, i in enumerate(order):
        ok = answers_agree(predicted[i], reference[i])
        covered, agreed = covered + 1, agreed + ok
        if not answers_agree(reference[i], majority):
            minority, minority_agreed = minority + 1, minority_agreed + ok
        if k + 1 < len(order) and confidences[order[k + 1]] == confidences[i]:
            continue  # the point is the threshold's: every call with this confidence is in
        points.append(CurvePoint(threshold=float(confidences[i]), n_covered=covered,
                                 coverage=covered / len(reference), agreement=agreed / covered,
                                 n_non_majority=minority,
                                 agreement_non_majority=minority_agreed / minority if minority else None))
    return points


def wilson_lower(share: float, n: int, z: float) -> float:
    """The lower end of the Wilson score interval of a share measured on n calls, z standard errors wide."""
    if n == 0:
        return 0.0
    if z <= 0:
        return share
    centre = share + z * z / (2 * n)
    spread = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n)


def reaches(point: CurvePoint, target: float, min_calls: int, z: float = 0.0) -> bool:
    """The point covers enough calls and agrees at `target` on them and on its non-majority calls (which must
    exist: a threshold covering only majority answers says nothing about the others), read at the lower bound."""
    return (point.n_covered >= min_calls and wilson_lower(point.agreement, point.n_covered, z) >= target
            and point.agreement_non_majority is not None
            and wilson_lower(point.agreement_non_majority, point.n_non_majority, z) >= target)


def calibrate(predicted: Sequence[str], confidences: Sequence[float], reference: Sequence[str], target: float,
              min_calls: int, majority: str, z: float = 0.0) -> Calibration:
    """The curve on the calibration calls and the lowest threshold that reaches `target` (else NO_ROUTE)."""
    if not 0 < target <= 1:
        raise ValueError(f"target agreement {target} is not in (0, 1]")
    curve = coverage_curve(predicted, confidences, reference, majority)
    good = [p for p in curve if reaches(p, target, min_calls, z)]
    threshold = min(p.threshold for p in good) if good else NO_ROUTE
    return Calibration(target=target, min_calls=min_calls, z=z, majority=majority, n_calls=len(reference),
                       threshold=threshold, reached=bool(good), curve=curve)


def at_threshold(predicted: Sequence[str], confidences: Sequence[float], reference: Sequence[str],
                 threshold: float, majority: str) -> RouteFigures:
    """Coverage and agreements on another split (e.g. the test calls) at a threshold calibrated elsewhere."""
    _check(predicted, confidences, reference)
    covered = [i for i, c in enumerate(confidences) if c >= threshold]
    agreed = [answers_agree(predicted[i], reference[i]) for i in covered]
    minority = [ok for i, ok in zip(covered, agreed, strict=True) if not answers_agree(reference[i], majority)]
    return RouteFigures(threshold=threshold, n_calls=len(reference), n_covered=len(covered),
                        coverage=len(covered) / len(reference) if reference else 0.0,
                        agreement=sum(agreed) / len(agreed) if agreed else None, n_non_majority=len(minority),
                        agreement_non_majority=sum(minority) / len(minority) if minority else None)
