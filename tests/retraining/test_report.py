"""The run report as a person reads it: every signal with its threshold, every decision with its reasons, the
trained tasks with their versions, and a quiet night in one line."""

from __future__ import annotations

from datetime import datetime, timezone

from llm2slm.common.retrain_config import RetrainConfig
from llm2slm.registry.outcomes import TaskOutcome
from llm2slm.retraining.decide import plan
from llm2slm.retraining.drift import DriftReport, ShiftTest, TaskDrift
from llm2slm.retraining.report import RetrainReport, Window, markdown, window_flags

CFG = RetrainConfig()
AT = datetime(2026, 11, 2, 3, 30, tzinfo=timezone.utc)


def _report() -> RetrainReport:
    drifts = [TaskDrift(task_id="task-00", n_window=60, n_trained=300, growth=0.2,
                        shift=ShiftTest(p_value=0.41, accuracy=0.53, n_per_side=60)),
              TaskDrift(task_id="task-01", n_window=118, n_trained=300, growth=0.39,
                        shift=ShiftTest(p_value=2e-9, accuracy=0.92, n_per_side=118))]
    drift = DriftReport(n_window=328, n_unassigned=150, unassigned_share=150 / 328, mix_divergence=0.612,
                        window_shares={}, trained_shares={}, tasks=drifts)
    outcomes = [TaskOutcome(task_id="task-01", name="slots", calls=418, output_shape="json_spans", decision="specialist",
                            agreement=0.912, model_name="llm2slm-task-01", version="2", aliases=["challenger"],
                            notes=["not champion: FAIL agreement 0.912 < champion 0.950 - tolerance 0.010"])]
    return RetrainReport(run_id="r2", started=AT, window=Window(since=AT, until=AT, n_calls=330, n_curated=328),
                         drift=drift, decisions=plan(drifts, {"task-02": 149}, CFG, 0.98), outcomes=outcomes,
                         tasks_before=["task-00", "task-01"], tasks_after=["task-00", "task-01", "task-02"],
                         flags=window_flags(drift, CFG), seconds=412)


def test_the_markdown_holds_each_signal_decision_and_outcome():
    text = markdown(_report(), CFG)
    assert "| calls assigned to no task | 45.7% (150 of 328) | 5% |" in text
    assert "| task-mix shift (Jensen-Shannon distance) | 0.612 | 0.100 |" in text
    assert "| task-01 | 118 | 39% | 2e-09 (0.92) | - | retrain |" in text
    assert "| task-00 | 60 | 20% | 0.41 (0.53) | - | leave |" in text
    assert ("- **task-01: retrain**: inputs shifted: two-sample p-value 2e-09 < 0.01 (classifier accuracy 0.920 on "
            "118 calls a side)") in text
    assert "- **task-02: train_new**: new task: 149 unassigned calls form it (>= 50)" in text
    assert ("- task-01: llm2slm-task-01 version 2, challenger only, agreement 0.912 (not champion: FAIL agreement "
            "0.912 < champion 0.950 - tolerance 0.010)") in text
    assert "Tasks: 2 before, 3 after (new: task-02); every earlier task id kept." in text


def test_window_flags_name_the_signals_above_threshold():
    flags = _report().flags
    assert flags == ["45.7% of the window's calls fit no known task (> 5%): new tasks were looked for among them",
                     "the task mix moved: Jensen-Shannon distance 0.612 > 0.100"]
    assert [d.task_id for d in _report().decisions if d.trains] == _report().changed() == ["task-01", "task-02"]


def test_a_night_with_nothing_new_says_so():
    report = RetrainReport(run_id="r3", started=AT, window=Window(since=AT, until=AT), seconds=14)
    assert markdown(report, CFG).endswith("Nothing new since the last run: every task and champion is left as it "
                                          "was.\n")
