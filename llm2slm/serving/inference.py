"""One thread runs the specialists, batching the calls that wait for the same model.

The gateway's event loop never runs a model: it submits a request row and awaits a future. The worker takes what
is waiting (up to `max_batch` rows per model), runs each model once on its rows and sets every future, so at 16 or
64 concurrent clients a classifier's forward pass serves many calls. Shadow work waits in its own bounded queue
(`ShadowQueue`), whose one thread hands the worker a single comparison at a time: live calls never queue behind
more than one shadow call.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("llm2slm.serving.inference")


def _daemon(target: Callable[[], None], name: str) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


@dataclass
class _Job:
    specialist: Any
    row: Mapping[str, Any]
    future: Future


class InferenceWorker:
    def __init__(self, max_batch: int = 32):
        self.max_batch = max_batch
        self.jobs: queue.Queue[_Job | None] = queue.Queue()
        self.batches = self.rows = 0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = _daemon(self._loop, "llm2slm-inference")

    def submit(self, specialist: Any, row: Mapping[str, Any]) -> Future:
        """A future of `(answer, confidence)` for one request row."""
        future: Future = Future()
        self.start()
        self.jobs.put(_Job(specialist, row, future))
        return future

    def _loop(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            pending = [job]
            while len(pending) < self.max_batch * 4:
                try:
                    more = self.jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self.jobs.put(None)  # stop after this round
                    break
                pending.append(more)
            self._run(pending)

    def _run(self, pending: list[_Job]) -> None:
        by_model: dict[int, list[_Job]] = defaultdict(list)
        for job in pending:
            if job.future.set_running_or_notify_cancel():
                by_model[id(job.specialist)].append(job)
        for jobs in by_model.values():
            for start in range(0, len(jobs), self.max_batch):
                batch = jobs[start:start + self.max_batch]
                try:
                    results = batch[0].specialist.predict_with_confidence([j.row for j in batch])
                except Exception as exc:  # noqa: BLE001 - the calls fall back to the LLM, counted as errors
                    for j in batch:
                        j.future.set_exception(exc)
                    continue
                self.batches += 1
                self.rows += len(batch)
                for j, result in zip(batch, results, strict=True):
                    j.future.set_result(result)

    def stop(self) -> None:
        if self._thread is not None:
            self.jobs.put(None)
            self._thread.join(timeout=30)
            self._thread = None


@dataclass
class ShadowJob:
    specialist: Any
    row: Mapping[str, Any]
    reference: str  # the LLM's answer, canonical text
    done: Callable[[str | None, float | None, Exception | None], None]  # (answer, confidence, error)


class ShadowQueue:
    """Shadow comparisons off the request path: bounded (a full queue drops the comparison, counted), answered by
    the inference worker in its spare time."""

    def __init__(self, worker: InferenceWorker, size: int):
        self.worker = worker
        self.jobs: queue.Queue[ShadowJob | None] = queue.Queue(maxsize=size)
        self.dropped = 0
        self._thread: threading.Thread | None = None

    def offer(self, job: ShadowJob) -> bool:
        if self._thread is None:
            self._thread = _daemon(self._loop, "llm2slm-shadow")
        try:
            self.jobs.put_nowait(job)
            return True
        except queue.Full:
            self.dropped += 1
            return False

    def pending(self) -> int:
        return self.jobs.qsize()

    def _loop(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            try:
                answer, confidence = self.worker.submit(job.specialist, job.row).result()
            except Exception as exc:  # noqa: BLE001 - a failing specialist in shadow is recorded, never raised
                job.done(None, None, exc)
            else:
                job.done(answer, confidence, None)
            self.jobs.task_done()

    def join(self, timeout_s: float = 60.0) -> None:
        """Wait until every queued comparison is done (tests, shutdown)."""
        import time

        deadline = time.monotonic() + timeout_s
        while self.jobs.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)

    def stop(self) -> None:
        if self._thread is not None:
            self.join(timeout_s=10.0)
            self.jobs.put(None)
            self._thread.join(timeout=10)
            self._thread = None
