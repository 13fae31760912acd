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
def select(cfg: Config, entry: TaskEntry) -> Selection:
    task_dir = Artifacts(cfg.paths).tasks / entry.task_id
    return select_candidates(entry, read_split(task_dir, "train"), read_split(task_dir, "val"),
                             load_catalogue(cfg.catalogue_path()), cfg.select, hub_offline())


def within_generator_budget(choice: Selection, generators_left: int | None) -> Selection:
    """The selection, or the LLM keeping the task when it would train a generator and the conversion's generator
    budget (`finetune.generator_max_tasks`, generators per conversion) is spent: on a CPU each costs minutes."""
    if choice.model_kind != "generator" or generators_left is None or generators_left > 0:
        return choice
    reason = ("a generator would serve it, but this conversion's generators are spent "
              "(finetune.generator_max_tasks; null trains every task)")
    return choice.model_copy(update={"decision": "llm", "candidate": None, "candidates": [],
                                     "reasons": [*choice.reasons, reason]})
