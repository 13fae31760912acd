"""Rank 0's per-step training metrics (loss, learning rate, tokens/s) sent to an MLflow run in batches.

The MLflow calls run on one background thread, so a slow tracking server never holds up a training step.
Disabled (every method a no-op) on other ranks and when no run is given.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from pydantic import BaseModel


class MlflowTarget(BaseModel):
    """Where the worker logs: the tracking URI and an existing run (a child of the conversion run)."""

    tracking_uri: str
    run_id: str


class StepLogger:
    def __init__(self, target: MlflowTarget | None, world_size: int, every_steps: int = 10) -> None:
        self.target, self.world_size, self.every_steps = target, world_size, every_steps
        self.pending: list[Any] = []
        self.executor: ThreadPoolExecutor | None = None
        self.futures: list[Future] = []
        if target is not None:
            from mlflow import MlflowClient

            self.client = MlflowClient(target.tracking_uri)
            self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llm2slm-mlflow")

    @classmethod
    def open(cls, target: dict[str, Any] | None, rank: int, world_size: int) -> "StepLogger":
        return cls(MlflowTarget.model_validate(target) if target and rank == 0 else None, world_size)

    def add(self, step: int, loss: float, learning_rate: float, tokens: float, seconds: float) -> None:
        """One optimizer step: `tokens` non-padding tokens on this worker in `seconds` (tokens/s is scaled by the
        number of workers, which see batches of the same size)."""
        if self.executor is None:
            return
        from mlflow.entities import Metric

        now = int(time.time() * 1000)  # milliseconds
        self.pending += [Metric("train.step_loss", loss, now, step),
                         Metric("train.learning_rate", learning_rate, now, step),
                         Metric("train.tokens_per_s", tokens * self.world_size / max(seconds, 1e-9), now, step)]
        if step % self.every_steps == 0:
            self.flush()

    def flush(self) -> None:
        if self.executor is None or not self.pending:
            return
        batch, self.pending = self.pending, []
        self.futures.append(self.executor.submit(self.client.log_batch, self.target.run_id, metrics=batch))

    def close(self) -> None:
        """Send what is left and wait for every batch; a failed upload raises here."""
        if self.executor is None:
            return
        self.flush()
        for future in self.futures:
            future.result()
        self.executor.shutdown()
