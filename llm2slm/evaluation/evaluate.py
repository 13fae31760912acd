"""Score a specialist against the LLM on a task's held-out calls, by output shape; choose the best candidate.

Quality: agreement with the LLM (`agreement`), the same on the calls whose LLM answer is not the task's most
frequent one (`agreement_non_majority`), plus the shape's own figures (`metrics`), on the scrubbed test calls;
when the call store can be read, the same figures on the same calls as captured (`raw_metrics`, what the router
will see: `llm2slm.evaluation.raw`). Speed on this machine, on the scrubbed calls: single-call latency p50/p95
(batch of one) and calls/s at batch throughput. Cost per 1,000 calls: the LLM's from its logged token usage, the
specialist's from its measured time (`costs`).
Deferral (`llm2slm.evaluation.calibration`): the confidence threshold calibrated on the validation calls to the
target agreement, and what it gives on the test calls: `route_threshold`, `route_coverage`, `route_agreement`,
`route_agreement_non_majority` (the last two absent when the threshold covers no such test call).
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from pydantic import BaseModel

from llm2slm.common.config import EvaluateConfig, RouteConfig
from llm2slm.common.stats import percentile
from llm2slm.evaluation.calibration import (Calibration, CurvePoint, at_threshold, calibrate, coverage_curve,
                                            majority_answer, non_majority_agreement)
from llm2slm.evaluation.costs import CallUsage, llm_cost_per_1k, specialist_cost_per_1k
from llm2slm.evaluation.metrics import shape_metrics
from llm2slm.evaluation.raw import CapturedRows

log = logging.getLogger("llm2slm.evaluate")

# the figures of each output shape worth a line in the log (all of them are in the report and in MLflow)
SHAPE_FIGURES = ("accuracy", "macro_f1", "json_valid", "field_f1", "decision_accuracy", "function_name_accuracy",
                 "argument_exact_match", "tool_call_valid", "text_similarity", "rouge_l")


class Predictor(Protocol):
    def predict_rows(self, rows: Sequence[Mapping[str, Any]]) -> list[str]: ...

    def predict_with_confidence(self, rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, float]]: ...


class Evaluation(BaseModel):
    task_id: str
    candidate: str | None = None
    output_shape: str
    n_test: int
    metrics: dict[str, float]  # quality, latency_ms_p50/p95, calls_per_s, cost_per_1k_{llm,specialist}_usd
    usage_source: str  # where the LLM's token counts come from: logged, estimated or mixed
    examples: list[dict]  # a few (LLM answer, specialist answer) pairs for the report, from the scrubbed calls
    raw_metrics: dict[str, float] = {}  # the quality figures on the same calls as captured (unscrubbed)
    n_raw: int = 0  # how many of the test calls were scored as captured
    raw_skipped: str = ""  # why there is no raw figure (e.g. the call store could not be read), else ""
    calibration: Calibration | None = None  # the threshold and its curve on the validation calls, when calibrated
    test_curve: list[CurvePoint] = []  # the coverage-agreement curve on the test calls

    @property
    def agreement(self) -> float:
        return self.metrics["agreement"]

    @property
    def raw_agreement(self) -> float | None:
        return self.raw_metrics.get("agreement")

    @property
    def latency_ms_p50(self) -> float:
        return self.metrics["latency_ms_p50"]

    def figures(self) -> dict[str, float]:
        """The metrics, then the raw ones as `raw_<name>` and their count `n_raw` (what MLflow logs)."""
        raw = {f"raw_{k}": v for k, v in self.raw_metrics.items()}
        return {**self.metrics, **raw, "n_raw": float(self.n_raw)} if raw else dict(self.metrics)


def sample_rows(rows: list[dict], limit: int, seed: int = 0) -> list[dict]:
    """At most `limit` rows, a seeded sample when there are more."""
    return rows if len(rows) <= limit else random.Random(seed).sample(rows, limit)


def single_call_latency(specialist: Predictor, rows: Sequence[Mapping[str, Any]], n_single: int) -> dict[str, float]:
    """Latency of single calls answered alone (batch of one) with their confidence, as the router asks, ms."""
    single = []
    for row in rows[:n_single]:
        started = time.perf_counter()
        specialist.predict_with_confidence([row])
        single.append((time.perf_counter() - started) * 1000.0)
    return {"latency_ms_p50": percentile(single, 50), "latency_ms_p95": percentile(single, 95)}


def offered_tools(rows: Sequence[Mapping[str, Any]]) -> list[list[dict] | None]:
    """Each row's offered tools (OpenAI `tools` dicts; None when the request offered none)."""
    return [row.get("tools") for row in rows]


def _request_key(row: Mapping[str, Any]) -> str:
    return json.dumps([row.get("messages"), row.get("tools")], sort_keys=True, ensure_ascii=False)


def raw_predictions(specialist: Predictor, captured_rows: Sequence[Mapping[str, Any]],
                    scrubbed: Mapping[str, str]) -> list[str]:
    """The specialist's answers to the captured rows. A captured request identical to its scrubbed row (nothing was
    scrubbed in it) has the answer already given (`scrubbed`: request key -> answer; specialists are
    deterministic), so only the rows scrubbing changed are predicted again: for a generator, a second pass over
    every test call would cost seconds a call."""
    todo = [row for row in captured_rows if _request_key(row) not in scrubbed]
    fresh = iter(specialist.predict_rows(todo)) if todo else iter(())
    return [scrubbed[key] if (key := _request_key(row)) in scrubbed else next(fresh) for row in captured_rows]


def raw_quality(specialist: Predictor, captured: CapturedRows | None, shape: str,
                majority: str | None = None, scrubbed: Mapping[str, str] | None = None) -> tuple[dict[str, float], str]:
    """(the quality figures on the captured rows, why there are none): the reference is each captured LLM answer;
    with the task's `majority` answer, agreement_non_majority too; `scrubbed`: the answers already given to the
    scrubbed requests (request key -> answer), reused where the captured request is the same."""
    if captured is None:
        return {}, "not measured"
    if captured.skipped or not captured.rows:
        return {}, captured.skipped or "none of the test calls is in the call store"
    predicted = raw_predictions(specialist, captured.rows, scrubbed or {})
    return quality_figures(shape, predicted, captured.rows, majority), ""


def quality_figures(shape: str, predicted: list[str], rows: Sequence[Mapping[str, Any]],
                    majority: str | None) -> dict[str, float]:
    """The shape's quality figures of these answers to `rows` (the reference: each row's LLM answer), with
    agreement_non_majority when `majority` is given and some call's LLM answer is not it."""
    reference = [row["answer"] for row in rows]
    metrics = shape_metrics(shape, predicted, reference, offered_tools(rows))
    non_majority = non_majority_agreement(predicted, reference, majority) if majority is not None else None
    if non_majority is not None:
        metrics["agreement_non_majority"] = non_majority
    return metrics


def agreement_text(result: Evaluation) -> str:
    """`agreement 0.923 scrubbed / 0.872 raw`, the raw side saying why it is missing or on how many calls."""
    text = f"agreement {result.agreement:.3f} scrubbed / "
    if result.raw_agreement is None:
        return text + f"raw skipped ({result.raw_skipped})"
    on = f" ({result.n_raw} calls)" if result.n_raw != result.n_test else ""
    return text + f"{result.raw_agreement:.3f} raw{on}"


class Deferral(BaseModel):
    """What calibrating on the validation calls gave: figures for the metrics, the curves for the record."""

    metrics: dict[str, float]
    calibration: Calibration | None
    test_curve: list[CurvePoint]


def deferral(specialist: Predictor, predicted: list[str], confidences: list[float], reference: list[str],
             calibration_rows: Sequence[Mapping[str, Any]] | None, majority: str, route: RouteConfig) -> Deferral:
    """agreement_non_majority on the test calls; with calibration rows, the threshold calibrated on them and the
    route_* figures it gives on the test calls."""
    metrics: dict[str, float] = {}
    non_majority = non_majority_agreement(predicted, reference, majority)
    if non_majority is not None:
        metrics["agreement_non_majority"] = non_majority
    if not calibration_rows:
        return Deferral(metrics=metrics, calibration=None, test_curve=[])
    answered = specialist.predict_with_confidence(calibration_rows)
    calibration = calibrate([a for a, _ in answered], [c for _, c in answered],
                            [row["answer"] for row in calibration_rows], route.target_agreement,
                            route.min_calibration_calls, majority, route.calibration_z)
    test = at_threshold(predicted, confidences, reference, calibration.threshold, majority)
    metrics.update({"route_threshold": calibration.threshold, "route_coverage": test.coverage})
    if test.agreement is not None:
        metrics["route_agreement"] = test.agreement
    if test.agreement_non_majority is not None:
        metrics["route_agreement_non_majority"] = test.agreement_non_majority
    return Deferral(metrics=metrics, calibration=calibration,
                    test_curve=coverage_curve(predicted, confidences, reference, majority))


def evaluate_specialist(task_id: str, specialist: Predictor, rows: list[dict], shape: str, cfg: EvaluateConfig,
                        usage: Mapping[str, CallUsage], candidate: str | None = None,
                        captured: CapturedRows | None = None, *, calibration_rows: list[dict] | None = None,
                        majority: str | None = None, route: RouteConfig | None = None) -> Evaluation:
    """Score `specialist` on the task's test rows; `usage`: the LLM's logged token usage by call id; `captured`:
    the same calls as captured (for the raw figure), or why they could not be read; `calibration_rows`: the
    validation calls its deferral threshold is calibrated on (none: not calibrated); `majority`: the task's most
    frequent answer (default: the calibration rows', else the test rows')."""
    if not rows:
        raise ValueError(f"task {task_id} has no test calls")
    started = time.perf_counter()
    answered = specialist.predict_with_confidence(rows)
    seconds_per_call = (time.perf_counter() - started) / len(rows)
    predicted, confidences = [a for a, _ in answered], [c for _, c in answered]
    reference = [row["answer"] for row in rows]
    metrics = shape_metrics(shape, predicted, reference, offered_tools(rows))
    if majority is None:
        majority = majority_answer([row["answer"] for row in (calibration_rows or rows)])
    deferred = deferral(specialist, predicted, confidences, reference, calibration_rows, majority,
                        route or RouteConfig())
    metrics.update(deferred.metrics)
    metrics.update(single_call_latency(specialist, rows, cfg.latency_calls))
    metrics["calls_per_s"] = 1.0 / seconds_per_call if seconds_per_call > 0 else 0.0
    llm_cost, source = llm_cost_per_1k(rows, usage, cfg.llm_prices)
    metrics["cost_per_1k_llm_usd"] = llm_cost
    metrics["cost_per_1k_specialist_usd"] = specialist_cost_per_1k(seconds_per_call, os.cpu_count() or 1,
                                                                   cfg.cpu_hour_usd)
    raw_metrics, raw_skipped = raw_quality(specialist, captured, shape, majority,
                                           {_request_key(r): a for r, a in zip(rows, predicted, strict=True)})
    result = Evaluation(task_id=task_id, candidate=candidate, output_shape=shape, n_test=len(rows), metrics=metrics,
                        usage_source=source,
                        examples=[{"llm": r, "specialist": p} for r, p in zip(reference[:5], predicted[:5],
                                                                              strict=True)],
                        raw_metrics=raw_metrics, n_raw=len(captured.rows) if raw_metrics and captured else 0,
                        raw_skipped=raw_skipped, calibration=deferred.calibration,
                        test_curve=deferred.test_curve)
    shape_figures = ", ".join(f"{k} {v:.3f}" for k, v in metrics.items() if k in SHAPE_FIGURES)
    log.info("task %s (%s): %s on %d calls (%s), p50 %.1f ms, $%.4f vs LLM $%.4f per 1k calls%s", task_id,
             candidate, agreement_text(result), len(rows), shape_figures or shape, metrics["latency_ms_p50"],
             metrics["cost_per_1k_specialist_usd"], llm_cost, route_text(metrics))
    return result


def route_text(metrics: Mapping[str, float]) -> str:
    """`; answers 82.3% of the calls at threshold 0.9712 (agreement 0.985)`, or "" when not calibrated."""
    if "route_threshold" not in metrics:
        return ""
    if metrics["route_threshold"] > 1:
        return "; answers no call (no threshold reaches the target on the validation calls)"
    if "route_agreement" not in metrics:
        return f"; answers no test call at threshold {metrics['route_threshold']:.4f}"
    return (f"; answers {metrics['route_coverage']:.1%} of the calls at threshold {metrics['route_threshold']:.4f} "
            f"(agreement {metrics['route_agreement']:.3f})")


def best_evaluation(evaluations: Sequence[Evaluation], metric: str) -> Evaluation:
    """The candidate that scores highest on the gate's metric (then on agreement, then the faster one)."""
    if not evaluations:
        raise ValueError("no evaluation to choose from")
    return max(evaluations, key=lambda e: (e.metrics.get(metric, 0.0), e.metrics["agreement"],
                                           -e.metrics["latency_ms_p95"]))
