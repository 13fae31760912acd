"""S5: fine-tune one selected candidate on a task's training split with Ray Train
(`llm2slm.training.finetune`). With a tracking context, rank 0 logs loss, learning rate and tokens/s per step to a
`finetune:<task>` child run, which `tasks.track.track_finetune` then completes with the model."""

from __future__ import annotations

from prefect import task

from llm2slm.common.artifacts import Artifacts
from llm2slm.common.config import Config
from llm2slm.discovery.catalogue import TaskEntry
from llm2slm.lineage.tracking import RunContext, open_child_run
from llm2slm.training.finetune import FinetuneResult, finetune_candidate


@task(name="finetune")
def finetune(cfg: Config, entry: TaskEntry, candidate: str, ctx: RunContext | None = None,
             tags: dict[str, str] | None = None) -> FinetuneResult:
    art = Artifacts(cfg.paths)
    mlflow_run = open_child_run(ctx, "finetune", entry.task_id, tags or {}) if ctx else None
    return finetune_candidate(entry.task_id, candidate, art.tasks / entry.task_id,
                              art.model_dir(entry.task_id, candidate), cfg.catalogue_path(), cfg.finetune, art.runs,
                              cfg.ray_address, mlflow_run, cfg.paths.ray_dir)
