"""Resumable training state: what a worker saves every K steps and restores after a restart (the tests prove it
works by killing a worker mid-run: `llm2slm.testing.faults`).

A checkpoint holds the trainable parameters (the LoRA adapter and head, or the whole model for full
fine-tuning), the optimizer and learning-rate schedule, and the progress (optimizer steps done, finished epochs'
metrics, the step each attempt started from). Ray Train keeps it in the run's storage; `ray.train.get_checkpoint()`
hands the latest one to every worker of a restarted attempt.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, Field

STATE_FILE = "train_state.pt"
PROGRESS_FILE = "progress.json"

log = logging.getLogger("llm2slm.train")


class TrainProgress(BaseModel):
    step: int = Field(0, ge=0, description="optimizer steps done")
    history: list[dict[str, float]] = []  # metrics of the finished epochs
    attempt_start_steps: list[int] = []  # the step each attempt of the run started from (0 for the first)
    attempt_nodes: list[list[str]] = []  # per attempt, the Ray node id of each worker by rank


def save_train_state(folder: Path | str, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                     scheduler: Any, progress: TrainProgress) -> None:
    folder = Path(folder)
    trainable = {n: p.detach().cpu() for n, p in model.named_parameters() if p.requires_grad}
    torch.save({"model": trainable, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()},
               folder / STATE_FILE)
    (folder / PROGRESS_FILE).write_text(progress.model_dump_json())


def restore_train_state(checkpoint: Any, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                        scheduler: Any, nodes: list[str] | None = None) -> TrainProgress:
    """Load the latest checkpoint into model, optimizer and schedule; a fresh progress when there is none.
    `nodes`: this attempt's worker nodes by rank, recorded with the step it starts from."""
    fresh = TrainProgress(attempt_start_steps=[0], attempt_nodes=[nodes] if nodes else [])
    if checkpoint is None:
        return fresh
    with checkpoint.as_directory() as folder:
        if not (Path(folder) / STATE_FILE).is_file():  # the final specialist: nothing to resume from
            log.warning("checkpoint %s holds no training state; starting from step 0", folder)
            return fresh
        state = torch.load(Path(folder) / STATE_FILE, map_location="cpu", weights_only=True)
        progress = TrainProgress.model_validate_json((Path(folder) / PROGRESS_FILE).read_text())
    unexpected = model.load_state_dict(state["model"], strict=False).unexpected_keys
    if unexpected:
        raise RuntimeError(f"the checkpoint does not fit this model: unexpected parameters {unexpected[:5]}")
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    progress.attempt_start_steps.append(progress.step)
    progress.attempt_nodes += [nodes] if nodes else []
    log.info("resumed from step %d (attempt %d)", progress.step, len(progress.attempt_start_steps))
    return progress
