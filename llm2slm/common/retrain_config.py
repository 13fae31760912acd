"""The `retrain:` section of the configuration (params.yaml): the thresholds of the S6 retrain flow's drift
signals and decisions (`flows/retrain.py`, docs/retrain.md). A section of `llm2slm.common.config.Config`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RetrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    settle_s: float = Field(60.0, ge=0, description="the window ends this many seconds before the run starts, so "
                            "calls still being written are left for the next run, s")
    max_unassigned_share: float = Field(0.05, ge=0, le=1, description="share of the window's calls assigned to no "
                                        "task above which the report flags it")
    max_mix_divergence: float = Field(0.1, ge=0, le=1, description="Jensen-Shannon distance (base 2) between the "
                                      "window's and the training window's task shares above which the report "
                                      "flags it")
    shift_p_value: float = Field(0.01, gt=0, lt=1, description="a task's inputs have shifted when the two-sample "
                                 "test's p-value is below this")
    min_shift_calls: int = Field(30, ge=10, description="window calls a task needs to be tested for input shift")
    shift_max_calls: int = Field(300, ge=10, description="calls per side of the two-sample test at most, drawn "
                                 "with the seed")
    min_growth: float = Field(0.5, gt=0, description="calls added since the specialist was trained, as a share of "
                              "those it was trained on, at or above which the task is retrained")
    min_new_task_calls: int = Field(50, ge=10, description="a new task found among the unassigned calls is trained "
                                    "when it has at least this many calls")
    min_served_calls: int = Field(50, ge=1, description="shadow comparisons a task needs before its agreement is "
                                  "read as a drift signal")
    seed: int = 13
