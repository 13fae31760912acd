"""Per task, what the retrain flow does and why: retrain a known task, train a new one, or leave it alone.

A known task is retrained when any signal says so: its inputs shifted (two-sample p-value below
`retrain.shift_p_value`), its data grew by `retrain.min_growth` of what it was trained on, or its champion's
shadow agreement fell below the routing target on at least `retrain.min_served_calls` comparisons. Otherwise it
is left alone, and its champion and versions stay exactly as they are. A new task is trained when it has at least
`retrain.min_new_task_calls` calls. Every decision carries the figures behind it and one line per reason.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from llm2slm.common.retrain_config import RetrainConfig
from llm2slm.retraining.drift import TaskDrift

Action = Literal["retrain", "train_new", "leave"]


class Decision(BaseModel):
    task_id: str
    action: Action
    reasons: list[str]
    figures: dict[str, float | int | None] = {}

    @property
    def trains(self) -> bool:
        return self.action != "leave"


def _signals(drift: TaskDrift, cfg: RetrainConfig, target: float) -> tuple[list[str], list[str]]:
    """(reasons to retrain, reasons to leave), one line per signal."""
    act, keep = [], []
    if drift.shift is None:
        keep.append(f"inputs not tested: {drift.n_window} window calls < {cfg.min_shift_calls}")
    elif drift.shift.p_value < cfg.shift_p_value:
        act.append(f"inputs shifted: two-sample p-value {drift.shift.p_value:.2g} < {cfg.shift_p_value:g} "
                   f"(classifier accuracy {drift.shift.accuracy:.3f} on {drift.shift.n_per_side} calls a side)")
    else:
        keep.append(f"inputs unchanged: two-sample p-value {drift.shift.p_value:.2g} >= {cfg.shift_p_value:g} "
                    f"(classifier accuracy {drift.shift.accuracy:.3f})")
    grown = f"data grew {drift.growth:.0%} since training ({drift.n_trained} calls)"
    (act if drift.growth >= cfg.min_growth else keep).append(
        f"{grown} {'>=' if drift.growth >= cfg.min_growth else '<'} {cfg.min_growth:.0%}")
    if drift.shadow_agreement is not None and drift.n_shadow >= cfg.min_served_calls:
        low = drift.shadow_agreement < target
        (act if low else keep).append(f"shadow agreement {drift.shadow_agreement:.3f} {'<' if low else '>='} target "
                                      f"{target:.3f} on {drift.n_shadow} comparisons")
    return act, keep


def decide_known(drift: TaskDrift, cfg: RetrainConfig, target: float) -> Decision:
    figures = {"n_window": drift.n_window, "n_trained": drift.n_trained, "growth": round(drift.growth, 4),
               "shift_p_value": drift.shift.p_value if drift.shift else None,
               "shift_accuracy": drift.shift.accuracy if drift.shift else None,
               "shadow_agreement": drift.shadow_agreement, "n_shadow": drift.n_shadow}
    act, keep = _signals(drift, cfg, target)
    if act:
        return Decision(task_id=drift.task_id, action="retrain", reasons=act, figures=figures)
    return Decision(task_id=drift.task_id, action="leave", reasons=keep, figures=figures)


def decide_new(task_id: str, size: int, cfg: RetrainConfig) -> Decision:
    """A task discovered among the unassigned calls (only those of at least `min_new_task_calls` become tasks)."""
    return Decision(task_id=task_id, action="train_new", figures={"n_window": size},
                    reasons=[f"new task: {size} unassigned calls form it (>= {cfg.min_new_task_calls})"])


def plan(drifts: list[TaskDrift], new_tasks: dict[str, int], cfg: RetrainConfig, target: float) -> list[Decision]:
    """Every known task's decision, then every new task's (by id)."""
    return ([decide_known(d, cfg, target) for d in drifts]
            + [decide_new(task, size, cfg) for task, size in sorted(new_tasks.items())])
