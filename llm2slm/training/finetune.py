"""S5 for one task and candidate: the recipe from the catalogue entry and the task's statistics, then Ray Train.

Targets are the LLM's own answers (distillation). A worker failure restarts the workers from the last checkpoint
up to `finetune.max_failures` times. Returns where the specialist was saved and the training figures.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from llm2slm.common.config import FinetuneConfig

log = logging.getLogger("llm2slm.finetune")


class FinetuneResult(BaseModel):
    task_id: str
    candidate: str
    model_dir: Path
    recipe: dict[str, Any]
    metrics: dict[str, float]
    mlflow_run_id: str | None = None  # the run holding the per-step metrics (None when not tracked)
    budget: str | None = None  # a generator's budget: what it kept of the train calls and what it left out


def finetune_candidate(task_id: str, candidate: str, task_dir: Path, out_dir: Path, catalogue: Path,
                       cfg: FinetuneConfig, storage_path: Path, ray_address: str | None = None,
                       mlflow_run: dict[str, str] | None = None, ray_temp_dir: Path | None = None) -> FinetuneResult:
    """Fine-tune `candidate` on the task in `task_dir`; with `mlflow_run` ({tracking_uri, run_id}) rank 0 logs
    loss, learning rate and tokens/s per step to that run; `ray_temp_dir`: where a Ray started here keeps its
    files (the run's home). Checkpoints go to `cfg.storage` when set, else to `storage_path` (the home's runs)."""
    from llm2slm.training.catalogue import TINY_PREFIX, load_catalogue
    from llm2slm.training.recipe import capped_length, recipe_for, task_stats_from_dir
    from llm2slm.training.train import fine_tune

    entry = next((c for c in load_catalogue(catalogue) if c.name == candidate), None)
    if entry is None:
        raise ValueError(f"candidate {candidate!r} is not in the catalogue {catalogue}")
    generator = entry.kind == "generator"
    pretrained = generator and not entry.base.startswith(TINY_PREFIX)
    epochs = cfg.epochs or (cfg.generator_epochs if pretrained else None)
    overrides = {"seed": cfg.seed, "checkpoint_every_steps": cfg.checkpoint_every_steps,
                 **({"epochs": epochs} if epochs else {})}
    recipe = recipe_for(entry, task_stats_from_dir(task_dir), **overrides)
    if pretrained:  # tokens per example: bounds a step's time and memory
        recipe = capped_length(recipe, cfg.generator_max_length)
    max_calls = min(cfg.max_train_calls, cfg.generator_max_train_calls) if generator else cfg.max_train_calls
    result = fine_tune(recipe, task_dir, out_dir, num_workers=cfg.num_workers, use_gpu=cfg.use_gpu,
                       placement_strategy=cfg.placement_strategy, storage_path=cfg.storage or storage_path,
                       ray_address=ray_address, max_train_calls=max_calls,
                       max_failures=cfg.max_failures, mlflow_run=mlflow_run, ray_temp_dir=ray_temp_dir,
                       max_train_tokens=cfg.generator_max_train_tokens if generator else None)
    metrics = {k: float(v) for k, v in result.metrics.items() if isinstance(v, (int, float))}
    metrics.update(steps=float(result.steps), attempts=float(len(result.attempt_start_steps)),
                   rows_skipped=float(result.rows_skipped))
    if result.budget is not None:
        metrics.update(budget_calls_kept=float(result.budget.calls_kept), budget_tokens=float(result.budget.tokens),
                       budget_calls_available=float(result.budget.calls_available))
        log.info("task %s: %s trained on %s", task_id, candidate, result.budget.describe())
    log.info("task %s: fine-tuned %s in %.0f s (%d steps, %d attempt(s))", task_id, candidate,
             metrics.get("wall_s", 0.0), result.steps, len(result.attempt_start_steps))
    return FinetuneResult(task_id=task_id, candidate=candidate, model_dir=result.model_dir,
                          recipe=recipe.model_dump(mode="json"), metrics=metrics,
                          budget=result.budget.describe() if result.budget is not None else None,
                          mlflow_run_id=mlflow_run["run_id"] if mlflow_run else None)
