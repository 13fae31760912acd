"""Per-task decisions: each signal alone retrains a task, none leaves it, and every reason carries its figure."""

from __future__ import annotations

from llm2slm.common.retrain_config import RetrainConfig
from llm2slm.retraining.decide import decide_known, decide_new, plan
from llm2slm.retraining.drift import ShiftTest, TaskDrift

CFG = RetrainConfig()


def _drift(**kw) -> TaskDrift:
    values = {"task_id": "task-00", "n_window": 60, "n_trained": 300, "growth": 0.2,
              "shift": ShiftTest(p_value=0.4, accuracy=0.52, n_per_side=60)}
    return TaskDrift(**{**values, **kw})


def test_no_signal_leaves_the_task_with_the_figures_it_read():
    decision = decide_known(_drift(), CFG, 0.98)
    assert decision.action == "leave" and not decision.trains
    assert decision.reasons == ["inputs unchanged: two-sample p-value 0.4 >= 0.01 (classifier accuracy 0.520)",
                                "data grew 20% since training (300 calls) < 50%"]
    assert decision.figures["shift_p_value"] == 0.4 and decision.figures["growth"] == 0.2


def test_a_shift_retrains():
    decision = decide_known(_drift(shift=ShiftTest(p_value=3e-7, accuracy=0.91, n_per_side=60)), CFG, 0.98)
    assert decision.action == "retrain"
    assert decision.reasons == ["inputs shifted: two-sample p-value 3e-07 < 0.01 (classifier accuracy 0.910 on 60 "
                                "calls a side)"]


def test_growth_at_the_threshold_retrains_and_below_does_not():
    assert decide_known(_drift(growth=0.5), CFG, 0.98).action == "retrain"
    assert decide_known(_drift(growth=0.49), CFG, 0.98).action == "leave"


def test_shadow_agreement_counts_only_from_enough_comparisons():
    low = decide_known(_drift(shadow_agreement=0.9, n_shadow=80), CFG, 0.98)
    assert low.action == "retrain" and low.reasons == ["shadow agreement 0.900 < target 0.980 on 80 comparisons"]
    assert decide_known(_drift(shadow_agreement=0.9, n_shadow=49), CFG, 0.98).action == "leave"
    fine = decide_known(_drift(shadow_agreement=0.99, n_shadow=80), CFG, 0.98)
    assert fine.action == "leave" and fine.reasons[-1] == "shadow agreement 0.990 >= target 0.980 on 80 comparisons"


def test_too_few_window_calls_are_not_tested_and_say_so():
    decision = decide_known(_drift(n_window=12, shift=None), CFG, 0.98)
    assert decision.action == "leave" and decision.reasons[0] == "inputs not tested: 12 window calls < 30"
    assert decision.figures["shift_p_value"] is None


def test_new_tasks_follow_the_known_ones():
    decisions = plan([_drift(), _drift(task_id="task-01", growth=2.0)], {"task-03": 140}, CFG, 0.98)
    assert [(d.task_id, d.action) for d in decisions] == [("task-00", "leave"), ("task-01", "retrain"),
                                                          ("task-03", "train_new")]
    assert decide_new("task-03", 140, CFG).reasons == ["new task: 140 unassigned calls form it (>= 50)"]
