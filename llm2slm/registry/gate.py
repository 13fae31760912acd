"""The promotion policy (mlflow/promotion_policy.yaml, validated) and the champion gate it defines.

Per output shape a rule names the main figure and its threshold (a challenger may also score at most `tolerance`
below the champion on it), optionally the least `agreement_non_majority`, and optionally `minimums`: more figures
of the shape's evaluation, each with the least value it must reach (e.g. for tool_call, decision_accuracy and
tool_call_valid). Every rule's figure must be one the shape's evaluation reports (`llm2slm.evaluation.metrics.
gate_figures`); a bad name is refused with the known ones. A figure the version lacks fails the gate, except one
taken over calls the task's test split has none of (its count, e.g. `n_text`, is 0): that minimum holds trivially.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from llm2slm.common.errors import load_yaml_model
from llm2slm.evaluation.metrics import gate_figures
from llm2slm.evaluation.tool_metrics import FIGURE_COUNTS

SHAPES = ("closed_label", "json_spans", "json", "tool_call", "free_text")
NON_MAJORITY_METRIC = "agreement_non_majority"
Share = Annotated[float, Field(ge=0, le=1)]


class RegistryError(ValueError):
    """A registry request cannot be done; the message names the model, version or rule at fault."""


class ShapeRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metric: str = Field(min_length=1, description="evaluation metric the gate reads, in [0, 1]")
    threshold: float = Field(ge=0, le=1)
    non_majority_threshold: float | None = Field(None, ge=0, le=1, description="the least agreement on the calls "
                                                 "whose LLM answer is not the task's most frequent one; none: no rule")
    minimums: dict[str, Share] = Field(default_factory=dict, description="more evaluation figures and the least "
                                       "each must reach, in [0, 1]; not compared with the champion")


class PromotionPolicy(BaseModel):
    """mlflow/promotion_policy.yaml, validated."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["auto", "manual"]
    metrics: dict[str, ShapeRule]
    tolerance: float = Field(ge=0, le=1, description="how far below the champion a challenger may score")
    latency_p95_ms: float = Field(gt=0, description="single-call p95 latency budget, ms")

    @model_validator(mode="after")
    def _every_shape(self) -> "PromotionPolicy":
        unknown = sorted(set(self.metrics) - set(SHAPES))
        missing = [s for s in SHAPES if s not in self.metrics]
        if unknown:
            raise ValueError(f"metrics: unknown shapes {unknown}; known: {list(SHAPES)}")
        if missing:
            raise ValueError(f"metrics: no rule for shapes {missing}")
        for shape, rule in self.metrics.items():
            known = gate_figures(shape)
            if rule.metric not in known:
                raise ValueError(f"metrics.{shape}.metric: unknown figure {rule.metric!r} for shape {shape}; "
                                 f"known: {list(known)}")
            bad = [name for name in rule.minimums if name not in known]
            if bad:
                raise ValueError(f"metrics.{shape}.minimums: unknown figures {bad} for shape {shape}; "
                                 f"known: {list(known)}")
        return self


def load_policy(path: Path | str) -> PromotionPolicy:
    """Read and validate the promotion policy. Raises RegistryError naming the file and field at fault."""
    return load_yaml_model(path, PromotionPolicy, RegistryError, "promotion policy")


def gate_metric(policy_path: Path | str, shape: str) -> str:
    """The metric the promotion gate judges a `shape` task by."""
    policy = load_policy(policy_path)
    if shape not in policy.metrics:
        raise RegistryError(f"shape {shape!r} has no rule in the promotion policy {policy_path}")
    return policy.metrics[shape].metric


class GateResult(BaseModel):
    passed: bool
    reasons: list[str]
    figures: dict[str, Any]


def gate(policy: PromotionPolicy, shape: str, metrics: dict[str, float],
         champion_metrics: dict[str, float] | None = None, champion_note: str = "") -> GateResult:
    """Threshold on the shape's metric, no worse than the champion beyond the tolerance, the shape's non-majority
    agreement rule when it has one, each of its minimums, latency within budget. `reasons`: one line per check,
    `ok ...` or `FAIL ...` naming the figure; `champion_note` ends the champion line, in parentheses (where the
    champion's figure comes from: `llm2slm.registry.footing`)."""
    if shape not in policy.metrics:
        raise RegistryError(f"shape {shape!r} has no rule in the promotion policy; known: {sorted(policy.metrics)}")
    rule = policy.metrics[shape]
    value = metrics.get(rule.metric)
    latency = metrics.get("latency_ms_p95")
    champion_value = (champion_metrics or {}).get(rule.metric)
    figures = {"shape": shape, "metric": rule.metric, "value": value, "threshold": rule.threshold,
               "champion_value": champion_value, "tolerance": policy.tolerance,
               "latency_ms_p95": latency, "latency_budget_ms": policy.latency_p95_ms}
    reasons = [_at_least(rule.metric, value, rule.threshold)]
    if value is not None and champion_value is not None:
        ok = value >= champion_value - policy.tolerance
        reasons.append(f"{'ok' if ok else 'FAIL'} {rule.metric} {value:.3f} {'>=' if ok else '<'} champion "
                       f"{champion_value:.3f} - tolerance {policy.tolerance:.3f}"
                       + (f" ({champion_note})" if champion_note else ""))
    if rule.non_majority_threshold is not None:
        figures["non_majority_threshold"] = rule.non_majority_threshold
        figures["agreement_non_majority"] = metrics.get(NON_MAJORITY_METRIC)
        reasons.append(_at_least(NON_MAJORITY_METRIC, metrics.get(NON_MAJORITY_METRIC), rule.non_majority_threshold))
    if rule.minimums:
        figures["minimums"] = dict(rule.minimums)
        figures.update({name: metrics.get(name) for name in rule.minimums})
        reasons += [_minimum(name, least, metrics) for name, least in rule.minimums.items()]
    if latency is None:
        reasons.append("FAIL latency_ms_p95 was not measured for this version")
    else:
        ok = latency <= policy.latency_p95_ms
        reasons.append(f"{'ok' if ok else 'FAIL'} latency p95 {latency:.1f} ms {'<=' if ok else '>'} "
                       f"budget {policy.latency_p95_ms:.0f} ms")
    return GateResult(passed=not any(r.startswith("FAIL") for r in reasons), reasons=reasons, figures=figures)


def _minimum(name: str, least: float, metrics: dict[str, float]) -> str:
    """One minimum's line; a figure over calls the test split has none of (its count is 0) holds trivially."""
    count = FIGURE_COUNTS.get(name.removeprefix("raw_"))
    if name not in metrics and count is not None:
        count_name = f"raw_{count}" if name.startswith("raw_") else count
        if metrics.get(count_name) == 0:
            return f"ok {name}: no call to measure it on ({count_name} 0)"
    return _at_least(name, metrics.get(name), least, "minimum")


def _at_least(metric: str, value: float | None, threshold: float, what: str = "threshold") -> str:
    if value is None:
        return f"FAIL {metric} was not measured for this version"
    ok = value >= threshold
    return f"{'ok' if ok else 'FAIL'} {metric} {value:.3f} {'>=' if ok else '<'} {what} {threshold:.3f}"
