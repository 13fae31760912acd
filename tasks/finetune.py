"""Stage S5: fine-tune the selected candidate on a task's training split with Ray Train.

The recipe comes from the catalogue entry and the task's statistics; targets are the LLM's own answers
(distillation). Returns where the specialist was saved and the training metrics.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from prefect import task
from pydantic import BaseModel

from llm2slm.config import FinetuneConfig

log = logging.getLogger("llm2slm.finetune")


class FinetuneResult(BaseModel):
    task_id: str
    model_dir: Path
    recipe: dict[str, Any]
    metrics: dict[str, float]


@task(name="finetune")
def finetune_task(task_id: str, candidate: str, task_dir: Path, out_dir: Path, catalogue: Path,
                  cfg: FinetuneConfig, storage_path: Path, ray_address: str | None = None) -> FinetuneResult:
    from llm2slm.training.catalogue import load_catalogue
    from llm2slm.training.recipe import recipe_for, task_stats_from_dir
    from llm2slm.training.train import fine_tune

    entry = next((c for c in load_catalogue(catalogue) if c.name == candidate), None)
    if entry is None:
        raise ValueError(f"candidate {candidate!r} is not in the catalogue {catalogue}")
    overrides = {"seed": cfg.seed, **({"epochs": cfg.epochs} if cfg.epochs else {})}
    recipe = recipe_for(entry, task_stats_from_dir(task_dir), **overrides)
    result = fine_tune(recipe, task_dir, out_dir, num_workers=cfg.num_workers, use_gpu=cfg.use_gpu,
                       storage_path=storage_path, ray_address=ray_address, max_train_calls=cfg.max_train_calls)
    metrics = {k: float(v) for k, v in result.metrics.items() if isinstance(v, (int, float))}
    log.info("task %s: fine-tuned %s in %.0f s", task_id, candidate, metrics.get("wall_s", 0.0))
    return FinetuneResult(task_id=task_id, model_dir=result.model_dir, recipe=recipe.model_dump(mode="json"),
                          metrics=metrics)
