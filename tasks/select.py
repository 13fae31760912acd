"""S4: per task, the candidates that will try to take it over, or the reason it stays on the LLM
(`llm2slm.selection.select`)."""

from __future__ import annotations

from prefect import task

from llm2slm.common.artifacts import Artifacts
from llm2slm.common.config import Config
from llm2slm.common.env import hub_offline
from llm2slm.discovery.catalogue import TaskEntry
from llm2slm.discovery.split import read_split
from llm2slm.selection.select import Selection, select_candidates
from llm2slm.training.catalogue import load_catalogue


@task(name="select")
def select(cfg: Config, entry: TaskEntry, generators_left: int | None = None) -> Selection:
    """`generators_left`: generators this conversion may still train (finetune.generator_max_tasks; None: any)."""
    task_dir = Artifacts(cfg.paths).tasks / entry.task_id
    return select_candidates(entry, read_split(task_dir, "train"), read_split(task_dir, "val"),
                             load_catalogue(cfg.catalogue_path()), cfg.select, hub_offline(), generators_left)

