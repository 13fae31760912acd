"""Run a data stage (curate, cluster, split) so that a rerun with the same inputs reuses its result.

Prefect's cache is keyed by the stage's key (`llm2slm.lineage.resume.stage_key`: its configuration, input files
and code), and the result is persisted under the run's home (`runs/stage_results`), so a flow killed after a stage
and started again takes the cached result instead of running the stage: its task run ends in the Cached state,
and the flow logs the reuse. When the stage's outputs on disk are not the ones its last run wrote (no stamp,
another key, files changed since), the cache is refreshed: the stage runs and its result replaces the cached one.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from prefect import Task
from prefect.cache_policies import CachePolicy

from llm2slm.common.artifacts import Artifacts
from llm2slm.common.config import Config
from llm2slm.lineage.resume import rerun_reason, stage_key, write_stamp

log = logging.getLogger("llm2slm.resume")
R = TypeVar("R")


class StageInputs(CachePolicy):
    """The cache key of one data stage's run: its `stage_key`, computed once by `run_stage` (the key the stamp
    records is then the key the result is cached under)."""

    def __init__(self, stage: str, key: str) -> None:
        self.stage, self.key = stage, key

    def compute_key(self, task_ctx: Any, inputs: dict[str, Any], flow_parameters: dict[str, Any],
                    **kwargs: Any) -> str | None:
        return f"llm2slm-{self.stage}-{self.key}"


def run_stage(stage_task: Task[..., R], cfg: Config, stage: str) -> tuple[R, bool]:
    """Run the stage's task with `cfg`; returns (its result, True when the result was reused from the cache)."""
    key = stage_key(cfg, stage)
    reason = rerun_reason(cfg, stage, key)
    if reason:
        log.info("%s: runs (%s)", stage, reason)
    results = Artifacts(cfg.paths).stage_results
    results.mkdir(parents=True, exist_ok=True)
    cached_task = stage_task.with_options(cache_policy=StageInputs(stage, key), persist_result=True,
                                          result_storage=results, refresh_cache=reason is not None)
    state = cached_task(cfg, return_state=True)
    result = state.result()  # raises the stage's own error when it failed
    reused = state.name == "Cached"
    if reused:
        log.info("%s: reused the result of an earlier run (same inputs, configuration and code; key %s)",
                 stage, key[:12])
    else:
        write_stamp(cfg, stage, key)
    return result, reused
