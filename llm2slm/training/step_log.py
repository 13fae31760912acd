"""Rank 0's per-step training metrics: to an MLflow run in batches, and as a progress line on the driver.

The MLflow calls run on one background thread, so a slow tracking server never holds up a training step.
Disabled (every method a no-op) on other ranks and when no run is given.

The progress line (`finetune task-01 minilm-classifier: step 120/600 (20%), loss 0.52, 38 examples/s, ~3 min
left`) comes at most every PROGRESS_EVERY_S seconds: rank 0 puts it on a Ray queue that a `ProgressRelay` thread
in the driver logs (logger `llm2slm.finetune`). The driver opens the relay around `trainer.fit()` and passes its
`handle` in the training function's config (`StepLogger.open(..., progress=handle, ...)`). Ray itself forwards
nothing: a local Ray starts with `log_to_driver=False`, which keeps Ray Train's own chatter off the terminal.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from pydantic import BaseModel

PROGRESS_EVERY_S = 20.0  # seconds of wall time between two progress lines
log = logging.getLogger("llm2slm.finetune")


class MlflowTarget(BaseModel):
    """Where the worker logs: the tracking URI and an existing run (a child of the conversion run)."""

    tracking_uri: str
    run_id: str


class StepLogger:
    def __init__(self, target: MlflowTarget | None, world_size: int, every_steps: int = 10,
                 progress: "ProgressLine | None" = None) -> None:
        self.target, self.world_size, self.every_steps = target, world_size, every_steps
        self.progress = progress
        self.pending: list[Any] = []
        self.executor: ThreadPoolExecutor | None = None
        self.futures: list[Future] = []
        if target is not None:
            from mlflow import MlflowClient

            self.client = MlflowClient(target.tracking_uri)
            self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llm2slm-mlflow")

    @classmethod
    def open(cls, target: dict[str, Any] | None, rank: int, world_size: int, progress: dict[str, Any] | None = None,
             total_steps: int = 0, examples_per_step: int = 0) -> "StepLogger":
        """Rank 0's logger; `progress`: a `ProgressRelay.handle` (None: no progress line), with the run's
        `total_steps` (optimizer steps over all epochs) and `examples_per_step` (over all workers)."""
        line = ProgressLine.from_handle(progress, total_steps, examples_per_step) if progress and rank == 0 else None
        return cls(MlflowTarget.model_validate(target) if target and rank == 0 else None, world_size,
                   progress=line)

    def add(self, step: int, loss: float, learning_rate: float, tokens: float, seconds: float) -> None:
        """One optimizer step: `tokens` non-padding tokens on this worker in `seconds` (tokens/s is scaled by the
        number of workers, which see batches of the same size)."""
        if self.progress is not None:
            self.progress.update(step, loss)
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


def rate_text(rate: float) -> str:
    """A rate for the progress line: whole numbers from 10 up, two significant digits below (a generator on a
    CPU trains a fraction of an example a second)."""
    return f"{rate:.0f}" if rate >= 10 else f"{rate:.2g}"


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


class ProgressLine:
    """Rank 0's progress: one line at the first step, then at most every `every_s` seconds, and at the last step.

    The loss is the mean over the steps since the previous line; the speed and the time left are measured from
    this attempt's first step (a resumed run starts counting again); validation time is not in the estimate."""

    def __init__(self, label: str, total_steps: int, examples_per_step: int, sink: Callable[[str], None],
                 every_s: float = PROGRESS_EVERY_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.label, self.total, self.examples_per_step = label, total_steps, examples_per_step
        self.sink, self.every_s, self.clock = sink, every_s, clock
        self.first: tuple[int, float] | None = None  # (step, time) of this attempt's first step
        self.last_line = 0.0
        self.losses: list[float] = []
        self.off = False  # the sink failed: no more lines

    @classmethod
    def from_handle(cls, handle: dict[str, Any], total_steps: int, examples_per_step: int) -> "ProgressLine":
        queue = handle["queue"]
        return cls(handle["label"], total_steps, examples_per_step, sink=queue.put_nowait,
                   every_s=float(handle.get("every_s", PROGRESS_EVERY_S)))

    def update(self, step: int, loss: float) -> None:
        if self.off:
            return
        now = self.clock()
        self.losses.append(loss)
        if self.first is None:
            self.first = (step, now)
        elif now - self.last_line < self.every_s and step < self.total:
            return
        self.emit(self.text(step, now))
        self.last_line, self.losses = now, []

    def text(self, step: int, now: float) -> str:
        share = f" ({step / self.total:.0%})" if self.total else ""
        parts = [f"{self.label}: step {step}/{self.total or '?'}{share}",
                 f"loss {sum(self.losses) / len(self.losses):.3g}"]
        first_step, first_time = self.first or (step, now)
        if step > first_step and now > first_time:
            steps_per_s = (step - first_step) / (now - first_time)
            if self.examples_per_step:
                parts.append(f"{rate_text(steps_per_s * self.examples_per_step)} examples/s")
            if self.total and step < self.total:
                parts.append(f"~{_duration((self.total - step) / steps_per_s)} left")
            elif step >= self.total:
                parts.append(f"trained in {_duration(now - first_time)}")
        return ", ".join(parts)

    def emit(self, line: str) -> None:
        """Send the line; a relay that is gone turns the progress off rather than failing the training."""
        try:
            self.sink(line)
        except Exception:  # noqa: BLE001 (progress is best effort)
            self.off = True


class ProgressRelay:
    """Driver side of the progress line: a Ray queue (an actor using no CPU) and a thread that logs what rank 0
    puts on it. `handle` goes into the training function's config; use as a context manager around `fit()`."""

    def __init__(self, label: str, every_s: float = PROGRESS_EVERY_S) -> None:
        from ray.util.queue import Queue

        self.queue = Queue(maxsize=100, actor_options={"num_cpus": 0})
        self.handle: dict[str, Any] = {"label": label, "queue": self.queue, "every_s": every_s}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._forward, name="llm2slm-progress", daemon=True)
        self._thread.start()

    def _forward(self) -> None:
        from ray.util.queue import Empty

        while not self._stop.is_set():
            try:
                log.info("%s", self.queue.get(block=True, timeout=1.0))  # seconds
            except Empty:
                continue
            except Exception:  # noqa: BLE001 (Ray shutting down: nothing more will come)
                return

    def close(self) -> None:
        """Stop the thread, log what is left on the queue and end the queue's actor."""
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            for line in self.queue.get_nowait_batch(self.queue.qsize()):
                log.info("%s", line)
            self.queue.shutdown()
        except Exception:  # noqa: BLE001 (Ray already shut down)
            pass

    def __enter__(self) -> "ProgressRelay":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
