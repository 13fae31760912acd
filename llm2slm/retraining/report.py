"""The retrain run's report: what the window held, every drift signal with its threshold and measured value, each
task's decision with the figures behind it, and what training and the gate made of it. Written as JSON (the
model below) and Markdown (`markdown`), both logged to the run's MLflow parent run (docs/retrain.md reads one).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from llm2slm.common.retrain_config import RetrainConfig
from llm2slm.registry.outcomes import TaskOutcome
from llm2slm.retraining.decide import Decision
from llm2slm.retraining.drift import DriftReport


class Window(BaseModel):
    since: datetime | None  # the watermark: the last run's window end (None: the store's start)
    until: datetime  # this run's window end, the next run's watermark
    n_calls: int = 0  # in the store's window
    n_curated: int = 0  # after curation (filters, scrubbing, de-duplication)


class RetrainReport(BaseModel):
    run_id: str
    started: datetime
    window: Window
    drift: DriftReport | None = None  # None: nothing new in the window
    decisions: list[Decision] = []
    outcomes: list[TaskOutcome] = []  # the tasks trained, as the conversion reports them
    small_clusters: dict[str, int] = {}  # unassigned clusters too small to become a task
    tasks_before: list[str] = []
    tasks_after: list[str] = []
    flags: list[str] = []  # the window-wide signals above their threshold
    seconds: float = 0.0

    def changed(self) -> list[str]:
        return [d.task_id for d in self.decisions if d.trains]


def window_flags(drift: DriftReport, cfg: RetrainConfig) -> list[str]:
    """One line per window-wide signal above its threshold."""
    flags = []
    if drift.unassigned_share > cfg.max_unassigned_share:
        flags.append(f"{drift.unassigned_share:.1%} of the window's calls fit no known task "
                     f"(> {cfg.max_unassigned_share:.0%}): new tasks were looked for among them")
    if drift.mix_divergence > cfg.max_mix_divergence:
        flags.append(f"the task mix moved: Jensen-Shannon distance {drift.mix_divergence:.3f} > "
                     f"{cfg.max_mix_divergence:.3f}")
    return flags


def _signal_rows(report: RetrainReport, cfg: RetrainConfig) -> list[str]:
    drift = report.drift
    assert drift is not None
    rows = ["| signal | measured | threshold |", "|---|---:|---:|",
            f"| calls assigned to no task | {drift.unassigned_share:.1%} ({drift.n_unassigned} of "
            f"{drift.n_window}) | {cfg.max_unassigned_share:.0%} |",
            f"| task-mix shift (Jensen-Shannon distance) | {drift.mix_divergence:.3f} | {cfg.max_mix_divergence:.3f} |"]
    rows += ["", "| task | window calls | growth | input shift p (accuracy) | shadow agreement | decision |",
             "|---|---:|---:|---:|---:|---|"]
    by_task = {d.task_id: d for d in report.decisions}
    for task in drift.tasks:
        shift = f"{task.shift.p_value:.2g} ({task.shift.accuracy:.2f})" if task.shift else "not tested"
        shadow = f"{task.shadow_agreement:.3f} ({task.n_shadow})" if task.shadow_agreement is not None else "-"
        action = by_task[task.task_id].action if task.task_id in by_task else "-"
        rows.append(f"| {task.task_id} | {task.n_window} | {task.growth:.0%} | {shift} | {shadow} | {action} |")
    rows.append(f"\nThresholds: shift p < {cfg.shift_p_value:g} (tested from {cfg.min_shift_calls} calls), growth >= "
                f"{cfg.min_growth:.0%}, shadow agreement below the routing target from {cfg.min_served_calls} "
                f"comparisons, a new task from {cfg.min_new_task_calls} calls.")
    return rows


def _outcome_line(outcome: TaskOutcome) -> str:
    if outcome.decision == "failed":
        return f"- {outcome.task_id}: failed: {outcome.error}"
    if not outcome.version:
        return f"- {outcome.task_id}: stays on the LLM: {'; '.join(outcome.reasons)}"
    gate = "champion" if "champion" in outcome.aliases else "challenger only"
    notes = f" ({'; '.join(outcome.notes)})" if outcome.notes else ""
    return (f"- {outcome.task_id}: {outcome.model_name} version {outcome.version}, {gate}, agreement "
            f"{outcome.agreement:.3f}{notes}")


def markdown(report: RetrainReport, cfg: RetrainConfig) -> str:
    """The report as a person reads it."""
    w = report.window
    since = w.since.isoformat() if w.since else "the start of the store"
    lines = [f"# Retrain run {report.run_id}", "",
             f"Window: {since} to {w.until.isoformat()}: {w.n_calls} calls, {w.n_curated} after curation. "
             f"Took {report.seconds:.0f} s."]
    if report.drift is None:
        return "\n".join(lines + ["", "Nothing new since the last run: every task and champion is left as it was."]) + "\n"
    lines += ["", "## Signals", "", *_signal_rows(report, cfg)]
    lines += ["", *(f"**Flag:** {f}" for f in report.flags)] if report.flags else []
    lines += ["", "## Decisions", ""]
    lines += [f"- **{d.task_id}: {d.action}**: {'; '.join(d.reasons)}" for d in report.decisions]
    if report.small_clusters:
        lines.append(f"- unassigned clusters too small to become a task (calls stay unassigned): "
                     f"{report.small_clusters}")
    lines += ["", "## Trained", ""]
    lines += [_outcome_line(o) for o in report.outcomes] or ["- nothing was trained"]
    new = sorted(set(report.tasks_after) - set(report.tasks_before))
    lines += ["", f"Tasks: {len(report.tasks_before)} before, {len(report.tasks_after)} after"
                  f"{' (new: ' + ', '.join(new) + ')' if new else ''}; every earlier task id kept."]
    return "\n".join(lines) + "\n"
