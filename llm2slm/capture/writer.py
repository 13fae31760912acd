"""The background writer between the capture points (SDK, gateway) and the call store.

Callers hand records to a bounded queue and go on; one thread takes whatever has queued up (at most `batch_size`
records) and commits it to the store in one `CallStore.append`, so many concurrent calls share one fsync (group
commit). Two ways in:
- `submit(record)` never blocks and never raises: when the queue is full or the writer is closed it returns False
  and counts the record as dropped (the SDK's way: the agent's call must not wait or fail because of capture);
- `write(record)` (async) waits until the record's batch is durable in the store and raises `CaptureError` when it
  is not (the gateway's way: it answers 200 only for a stored call).
A failed append counts its records as failed; the writer keeps running and the next batch tries again.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

from llm2slm.common.schema import CallRecord

log = logging.getLogger("llm2slm.capture.writer")
_STOP = object()


class Appender(Protocol):
    def append(self, records: list[CallRecord]) -> Any: ...


class CaptureError(RuntimeError):
    """A record could not be made durable (queue full, writer closed, or the store failed)."""


@dataclass
class WriterCounts:
    written: int = 0  # records the store confirmed durable
    dropped: int = 0  # records refused because the queue was full or the writer closed
    failed: int = 0  # records whose append raised (store down, disk full, ...)
    build_failed: int = 0  # calls whose record could not be built from the request and answer


class RecordWriter:
    """Bounded queue + one committing thread. Thread-safe; `start` is called on first use."""

    def __init__(self, store: Appender, queue_size: int = 10000, batch_size: int = 256, linger_ms: float = 0.0):
        self.store = store
        self.batch_size = batch_size
        self.linger_s = linger_ms / 1000.0  # how long a batch waits for more records before its commit, seconds
        self.counts = WriterCounts()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._last_error_log = 0.0

    # ---- lifecycle ----
    def start(self) -> "RecordWriter":
        with self._lock:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="llm2slm-capture-writer", daemon=True)
                self._thread.start()
        return self

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def healthy(self) -> bool:
        """Open, and its thread (once started) still running."""
        return not self._closed and (self._thread is None or self._thread.is_alive())

    def queued(self) -> int:
        return self._queue.qsize()

    def close(self, timeout_s: float = 10.0) -> None:
        """Commit what is queued, then stop the thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._thread is None:
            return
        try:
            self._queue.put(_STOP, timeout=timeout_s)
        except queue.Full:
            log.warning("writer queue still full after %.0f s; %d records may be lost", timeout_s, self.queued())
        self._thread.join(timeout=timeout_s)

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every record queued so far is committed (or failed); False on timeout."""
        marker: Future[None] = Future()
        if self._closed:
            return False
        self.start()
        try:
            self._queue.put((None, marker), timeout=timeout_s)  # waits for room, unlike submit
        except queue.Full:
            return False
        try:
            marker.result(timeout=timeout_s)
            return True
        except Exception:  # noqa: BLE001 - a timeout or a failed batch both mean "not flushed"
            return False

    # ---- the two ways in ----
    def submit(self, record: CallRecord) -> bool:
        """Queue a record without waiting; False (and counted as dropped) when it cannot be queued."""
        if self._offer((record, None)):
            return True
        self._count("dropped", 1)
        return False

    async def write(self, record: CallRecord) -> None:
        """Queue a record and wait until it is durable in the store; raises CaptureError otherwise."""
        done: Future[None] = Future()
        if not self._offer((record, done)):
            self._count("dropped", 1)
            raise CaptureError("the capture queue is full or closed")
        try:
            await asyncio.wrap_future(done)
        except CaptureError:
            raise
        except Exception as exc:  # noqa: BLE001 - any store failure is reported the same way
            raise CaptureError(f"the call store failed: {exc}") from exc

    def note_build_failure(self, exc: Exception) -> None:
        self._count("build_failed", 1)
        self._log_error("a call record could not be built (the call itself went through): %s", exc)

    # ---- internals ----
    def _offer(self, item: tuple[CallRecord | None, Future[None] | None]) -> bool:
        if self._closed:
            return False
        self.start()
        try:
            self._queue.put_nowait(item)
            return True
        except queue.Full:
            return False

    def _count(self, name: str, n: int) -> None:
        with self._lock:
            setattr(self.counts, name, getattr(self.counts, name) + n)

    def _log_error(self, message: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._last_error_log > 5.0:  # at most one such line every 5 s, seconds
            self._last_error_log = now
            log.error(message, *args)

    def _take_batch(self) -> tuple[list[tuple[CallRecord | None, Future[None] | None]], bool]:
        items = [self._queue.get()]
        deadline = time.monotonic() + self.linger_s
        while len(items) < self.batch_size and items[-1] is not _STOP:
            try:
                wait_s = deadline - time.monotonic()
                items.append(self._queue.get(timeout=wait_s) if wait_s > 0 else self._queue.get_nowait())
            except queue.Empty:
                break
        stop = any(item is _STOP for item in items)
        return [item for item in items if item is not _STOP], stop

    def _run(self) -> None:
        while True:
            items, stop = self._take_batch()
            if items:
                self._commit(items)
            if stop and self._queue.empty():
                return

    def _commit(self, items: list[tuple[CallRecord | None, Future[None] | None]]) -> None:
        records = [record for record, _ in items if record is not None]
        error: Exception | None = None
        if records:
            try:
                self.store.append(records)
                self._count("written", len(records))
            except Exception as exc:  # noqa: BLE001 - the writer must outlive any store failure
                error = exc
                self._count("failed", len(records))
                self._log_error("could not store %d call record(s): %s", len(records), exc)
        for _, done in items:
            if done is None or done.done():
                continue
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(CaptureError(f"the call store failed: {error}"))
