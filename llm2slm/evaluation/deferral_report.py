"""What each deferral threshold buys, for a release manager: the coverage-agreement curves of an evaluation (on the
validation calls it was calibrated on, and on the test calls) as a PNG and a JSON record, and the report's
Markdown lines. tasks/track.py logs the plot and the record on the task's `evaluate` run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llm2slm.common.files import atomic_path
from llm2slm.evaluation.calibration import CurvePoint


def curve_record(evaluation: Any) -> dict[str, Any]:
    """The curves, target and threshold as plain JSON values."""
    calibration = evaluation.calibration
    return {"task_id": evaluation.task_id, "candidate": evaluation.candidate,
            "target_agreement": calibration.target if calibration else None,
            "min_calibration_calls": calibration.min_calls if calibration else None,
            "threshold": calibration.threshold if calibration else None,
            "reached": calibration.reached if calibration else None,
            "majority_answer": calibration.majority if calibration else None,
            "validation": [p.model_dump() for p in calibration.curve] if calibration else [],
            "test": [p.model_dump() for p in evaluation.test_curve]}


def _plot_curve(axis: Any, curve: Sequence[CurvePoint], label: str, color: str) -> None:
    axis.plot([p.coverage for p in curve], [p.agreement for p in curve], color=color, label=f"{label}: all calls")
    minority = [p for p in curve if p.agreement_non_majority is not None]
    axis.plot([p.coverage for p in minority], [p.agreement_non_majority for p in minority], color=color,
              linestyle=":", label=f"{label}: non-majority calls")


def _mark(axis: Any, curve: Sequence[CurvePoint], threshold: float, label: str, color: str) -> None:
    """The point of `curve` at `threshold`: the calls at or above it."""
    covered = [p for p in curve if p.threshold >= threshold]
    if covered:
        point = covered[-1]
        axis.plot([point.coverage], [point.agreement], marker="o", color=color, linestyle="none",
                  label=f"{label} at threshold {threshold:.4f}: {point.coverage:.1%}")


def plot_coverage_curve(evaluation: Any, path: Path) -> Path:
    """x = share of calls the specialist answers, y = its agreement with the LLM on them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    calibration = evaluation.calibration
    fig, axis = plt.subplots(figsize=(6.4, 4.4), dpi=100)
    try:
        if calibration:
            _plot_curve(axis, calibration.curve, "validation", "C0")
        _plot_curve(axis, evaluation.test_curve, "test", "C1")
        if calibration:
            axis.axhline(calibration.target, color="#777777", linewidth=0.8, label=f"target {calibration.target:g}")
            if calibration.reached:
                _mark(axis, calibration.curve, calibration.threshold, "validation", "C0")
                _mark(axis, evaluation.test_curve, calibration.threshold, "test", "C1")
        axis.set_xlim(0, 1.02)
        axis.set_xlabel("coverage: share of calls the specialist answers", fontsize=8)
        axis.set_ylabel("agreement with the LLM on them", fontsize=8)
        reached = "" if not calibration or calibration.reached else " (no threshold reaches the target)"
        axis.set_title(f"{evaluation.task_id} {evaluation.candidate or ''}: coverage vs agreement{reached}",
                       fontsize=9)
        axis.legend(fontsize=6, loc="lower left")
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", metadata={"Software": None})
    finally:
        plt.close(fig)
    return path


def _fmt(value: float | None, pattern: str = "{:.3f}") -> str:
    return "-" if value is None else pattern.format(value)


def deferral_lines(evaluations: Sequence[Any]) -> list[str]:
    """The report's section: per candidate, the calibrated threshold and what it gives on the test calls."""
    calibrated = [e for e in evaluations if e.calibration is not None]
    if not calibrated:
        return []
    first = calibrated[0].calibration
    lines = ["## Calibrated deferral", "",
             f"The specialist answers a call when its confidence is at least the threshold, calibrated on the "
             f"validation calls to agreement {first.target:g} on all the calls it answers and on those whose LLM "
             f"answer is not the task's most frequent one (`{first.majority[:80]}`), over at least "
             f"{first.min_calls} calls. The coverage-agreement curves are on the task's `evaluate` run in MLflow.", "",
             "| candidate | threshold | val coverage | test coverage | test agreement | test non-majority agreement |",
             "|---|---|---|---|---|---|"]
    for e in calibrated:
        c, m = e.calibration, e.metrics
        val = max((p.coverage for p in c.curve if p.threshold >= c.threshold), default=0.0)
        threshold = f"{c.threshold:.4f}" if c.reached else "none reaches the target"
        lines.append(f"| {e.candidate} | {threshold} | {val:.1%} | {_fmt(m.get('route_coverage'), '{:.1%}')} | "
                     f"{_fmt(m.get('route_agreement'))} | {_fmt(m.get('route_agreement_non_majority'))} |")
    return lines + [""]
