"""The route log: one JSON line per routing decision of the gateway, never any call text.

Each gateway process writes its own file, `<replica id>.jsonl`, in the `route_log` folder of the artifact
catalogue, so several replicas share one folder without a lock. `RouteLog.append` only queues the line; a thread
writes the queue at least every `flush_s` seconds (and on `close`), so the event loop never waits for the disk.
Files are 0600 in a 0700 folder. A replica that stopped in the middle of a line leaves a torn last line: readers
skip it (and count it), and a replica reopening its file starts a new line first.

`summarize` turns the events of a window into one `TaskTraffic` per task: who served the calls, why the specialist
fell back, how often the shadowed champion agreed with the LLM, what the LLM-answered calls cost and what the
specialist-served calls saved.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from llm2slm.common.config import TokenPrice
from llm2slm.common.files import PRIVATE_DIR, PRIVATE_FILE
from llm2slm.evaluation.costs import price_for
from llm2slm.registry.routing import Mode

log = logging.getLogger("llm2slm.route_log")

SUFFIX = ".jsonl"
NO_TASK = "none"
REPLICA_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
WINDOW = re.compile(r"^\s*(\d+)\s*([mhd])\s*$")
UNITS = {"m": "minutes", "h": "hours", "d": "days"}


class RouteEvent(BaseModel):
    """One routing decision. `kind` "call": who answered the agent's call; "shadow": the champion's answer to a
    call the LLM answered, compared with the LLM's (`route` is then "llm"). A "fallback" is a call routed to the
    specialist that the LLM answered instead (`fallback_reason`: error, timeout, invalid_label, invalid_json,
    invalid_tool_call, ...); a specialist that was not confident sends the call to the LLM: route "llm"."""

    model_config = ConfigDict(extra="forbid")

    at: datetime
    kind: Literal["call", "shadow"] = "call"
    task_id: str = NO_TASK
    route: Literal["specialist", "llm", "fallback"]
    mode: Mode
    model_version: str | None = None
    confidence: float | None = None
    fallback_reason: str | None = None
    agree: bool | None = None
    llm_model: str | None = None
    prompt_tokens: int | None = Field(None, ge=0)
    completion_tokens: int | None = Field(None, ge=0)
    latency_ms: float | None = Field(None, ge=0)
    call_id: str | None = Field(None, description="the call's record id in the store (joins a shadow comparison "
                                "to its call)")

    @field_validator("at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)

    @model_validator(mode="after")
    def _consistent(self) -> "RouteEvent":
        if self.kind == "shadow" and self.route != "llm":
            raise ValueError("a shadow event has route 'llm' (the LLM answered the call)")
        if (self.route == "fallback") != (self.fallback_reason is not None):
            raise ValueError("fallback_reason is given exactly when route is 'fallback'")
        return self


def call_event(record) -> RouteEvent:
    """The event of a stored call that the router saw (its record's `route` is set)."""
    route = record.route
    llm = route.route != "specialist"
    return RouteEvent(at=record.timestamp, kind="call", task_id=route.task_id, route=route.route, mode=route.mode,
                      model_version=route.version, confidence=route.confidence,
                      fallback_reason=route.fallback_reason if route.route == "fallback" else None,
                      llm_model=record.model if llm else None,
                      prompt_tokens=record.usage.prompt_tokens if llm else None,
                      completion_tokens=record.usage.completion_tokens if llm else None,
                      latency_ms=record.latency_ms, call_id=record.id)


def shadow_event(route, call_id: str | None, agree: bool | None, error: str | None = None) -> RouteEvent:
    """The event of a shadow comparison (`agree` None when the specialist failed: `error` names how)."""
    return RouteEvent(at=datetime.now(timezone.utc), kind="shadow", task_id=route.task_id, route="llm",
                      mode=route.mode, model_version=route.version, confidence=route.confidence, agree=agree,
                      call_id=call_id)


class RouteLog:
    """This replica's route log file. Thread-safe; `append` only queues. Use as a context manager or `close()`."""

    def __init__(self, folder: Path | str, replica_id: str, flush_s: float = 1.0, max_queue: int = 10000):
        if not REPLICA_ID.match(replica_id):
            raise ValueError(f"replica id {replica_id!r}: letters, digits, '_', '.', '-' (at most 128)")
        self.folder, self.replica_id, self.flush_s, self.max_queue = Path(folder), replica_id, flush_s, max_queue
        self.path = self.folder / f"{replica_id}{SUFFIX}"
        self.dropped = 0  # lines lost to a failed write
        self._queue: list[str] = []
        self._lock, self._write_lock = threading.Lock(), threading.Lock()
        self._wake, self._closed = threading.Event(), False
        self._fd = self._open()
        self._thread = threading.Thread(target=self._run, name=f"route-log-{replica_id}", daemon=True)
        self._thread.start()

    def _open(self) -> int:
        self.folder.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
        os.chmod(self.folder, PRIVATE_DIR)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_FILE)
        os.fchmod(fd, PRIVATE_FILE)
        size = os.fstat(fd).st_size
        if size:
            with open(self.path, "rb") as handle:
                handle.seek(size - 1)
                torn = handle.read(1) != b"\n"
            if torn:  # the last run stopped mid-line: keep its fragment a line of its own
                os.write(fd, b"\n")
        return fd

    def append(self, event: RouteEvent) -> None:
        line = event.model_dump_json() + "\n"
        with self._lock:
            if self._closed:
                raise ValueError(f"route log {self.path} is closed")
            self._queue.append(line)
            full = len(self._queue) >= self.max_queue
        if full:
            self._wake.set()

    def flush(self) -> None:
        """Write what is queued now."""
        with self._write_lock:  # taken first: batches reach the file in the order they were queued
            with self._lock:
                lines, self._queue = self._queue, []
            if not lines:
                return
            data = "".join(lines).encode("utf-8")
            try:
                while data:
                    data = data[os.write(self._fd, data):]
            except OSError as exc:  # a full disk must not stop the gateway: count what is lost
                self.dropped += len(lines)
                log.warning("route log %s: %d events lost: %s", self.path, len(lines), exc)

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.flush_s)
            self._wake.clear()
            self.flush()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._wake.set()
        self._thread.join()
        self.flush()
        os.close(self._fd)

    def __enter__(self) -> "RouteLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class LogRead:
    events: list[RouteEvent]
    files: int  # replica files read
    skipped: int  # lines that are not an event: a torn last line, or a fragment a crash left


def read_events(folder: Path | str, since: datetime | None = None) -> LogRead:
    """Every replica's events at or after `since` (all when None), oldest first. A missing folder has none."""
    folder = Path(folder)
    since = since.replace(tzinfo=timezone.utc) if since is not None and since.tzinfo is None else since
    paths = sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []
    events, skipped = [], 0
    for path in paths:
        if since is not None and datetime.fromtimestamp(path.stat().st_mtime, timezone.utc) < since:
            continue  # written to last before the window: every event in it is older
        with open(path, "rb") as handle:
            for raw in handle:
                try:
                    event = RouteEvent.model_validate_json(raw)
                except ValidationError:
                    skipped += bool(raw.strip())
                    continue
                if since is None or event.at >= since:
                    events.append(event)
    events.sort(key=lambda e: e.at)
    return LogRead(events=events, files=len(paths), skipped=skipped)


def parse_window(text: str) -> timedelta:
    """`30m`, `24h`, `7d` as a timedelta; ValueError saying what is expected otherwise."""
    match = WINDOW.match(text or "")
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"window {text!r}: expected a positive number and a unit m, h or d, e.g. 30m, 24h, 7d")
    return timedelta(**{UNITS[match.group(2)]: int(match.group(1))})


class TaskTraffic(BaseModel):
    task_id: str
    calls: int = 0
    specialist: int = 0  # answered by the specialist
    specialist_share: float | None = None  # of the calls; None without calls
    llm: int = 0  # routed to the LLM (mode off or shadow, outside the canary share, not confident)
    fallbacks: dict[str, int] = Field(default_factory=dict)  # routed to the specialist, answered by the LLM
    shadow_compared: int = 0
    shadow_agreed: int = 0
    agreement: float | None = None  # shadow_agreed / shadow_compared
    llm_cost_usd: float = 0.0  # the LLM-answered calls (llm and fallback) whose usage was logged
    llm_priced_calls: int = 0
    llm_cost_per_call_usd: float | None = None  # the mean the saving is priced at
    cost_basis: Literal["window", "evaluation"] | None = None  # where that mean comes from
    cost_saved_usd: float | None = None  # specialist calls x llm_cost_per_call_usd

    @property
    def fallback_total(self) -> int:
        return sum(self.fallbacks.values())


def call_cost(event: RouteEvent, prices: Mapping[str, TokenPrice]) -> float | None:
    """USD the LLM's logged usage cost for this call (None without usage): prices per 1M tokens."""
    if event.prompt_tokens is None and event.completion_tokens is None:
        return None
    price = price_for(event.llm_model or "", prices)
    return ((event.prompt_tokens or 0) * price.prompt + (event.completion_tokens or 0) * price.completion) / 1e6


def _add(traffic: TaskTraffic, event: RouteEvent, prices: Mapping[str, TokenPrice]) -> None:
    if event.kind == "shadow":
        if event.agree is not None:
            traffic.shadow_compared += 1
            traffic.shadow_agreed += event.agree
        return
    traffic.calls += 1
    if event.route == "specialist":
        traffic.specialist += 1
        return
    if event.route == "fallback":
        traffic.fallbacks[event.fallback_reason] = traffic.fallbacks.get(event.fallback_reason, 0) + 1
    else:
        traffic.llm += 1
    cost = call_cost(event, prices)
    if cost is not None:
        traffic.llm_cost_usd += cost
        traffic.llm_priced_calls += 1


def _finish(traffic: TaskTraffic, fallback_cost: float | None) -> TaskTraffic:
    if traffic.calls:
        traffic.specialist_share = traffic.specialist / traffic.calls
    if traffic.shadow_compared:
        traffic.agreement = traffic.shadow_agreed / traffic.shadow_compared
    traffic.fallbacks = dict(sorted(traffic.fallbacks.items(), key=lambda kv: (-kv[1], kv[0])))
    if traffic.llm_priced_calls:
        traffic.llm_cost_per_call_usd, traffic.cost_basis = traffic.llm_cost_usd / traffic.llm_priced_calls, "window"
    elif fallback_cost is not None:
        traffic.llm_cost_per_call_usd, traffic.cost_basis = fallback_cost, "evaluation"
    if traffic.llm_cost_per_call_usd is not None:
        traffic.cost_saved_usd = traffic.specialist * traffic.llm_cost_per_call_usd
    elif not traffic.specialist:
        traffic.cost_saved_usd = 0.0  # nothing served, nothing saved, whatever a call costs
    return traffic


def summarize(events: Iterable[RouteEvent], prices: Mapping[str, TokenPrice],
              fallback_cost_per_call: Mapping[str, float] | None = None,
              tasks: Iterable[str] = ()) -> list[TaskTraffic]:
    """One TaskTraffic per task seen in `events` or named in `tasks`, by task id. The saving prices each
    specialist-served call at the task's mean LLM cost per LLM-answered call in the events; a task without any
    priced LLM call in them uses `fallback_cost_per_call[task]` (USD per call), else its saving is None."""
    by_task = {task: TaskTraffic(task_id=task) for task in tasks}
    for event in events:
        _add(by_task.setdefault(event.task_id, TaskTraffic(task_id=event.task_id)), event, prices)
    fallback = fallback_cost_per_call or {}
    return [_finish(by_task[task], fallback.get(task)) for task in sorted(by_task)]

