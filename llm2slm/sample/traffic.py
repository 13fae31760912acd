"""Scheduling: turns examples into timed calls grouped in traces, users and sessions, with failures and duplicates."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from llm2slm.sample.common import AGENTS, KINDS, Example
from llm2slm.sample.usage import RATE_LIMITED, TIMEOUT, latency_ms

BASE_TIME = datetime(2026, 10, 1, tzinfo=timezone.utc)
DAYS = 14
HOUR_MS = 3_600_000
WINDOW_MS = DAYS * 24 * HOUR_MS
MODEL = "gpt-4o-2024-08-06"
MINI_MODEL = "gpt-4o-mini-2024-07-18"
MINI_SHARE: dict[str, float] = {
    "assistant-router": 0.30,
    "bank-support": 0.20,
    "table-booking": 0.25,
    "tools-agent": 0.10,
    "flights-agent": 0.15,
    "restaurants-agent": 0.20,
    "music-agent": 0.25,
    "movies-agent": 0.20,
    "hotels-agent": 0.15,
    "bank-accounts-agent": 0.10,
}
TRACE_SIZES: tuple[int, ...] = (1, 2, 3, 4)
TRACE_SIZE_WEIGHTS: tuple[float, ...] = (0.50, 0.28, 0.14, 0.08)
SESSION_SIZES: tuple[int, ...] = (1, 2, 3, 4, 5)
SESSION_SIZE_WEIGHTS: tuple[float, ...] = (0.40, 0.25, 0.15, 0.10, 0.10)
# Relative traffic by UTC hour (users in Europe and the Americas) and by weekday (Monday = 0).
HOUR_WEIGHTS: tuple[float, ...] = (
    0.35, 0.30, 0.25, 0.22, 0.22, 0.30, 0.45, 0.70, 0.95, 1.10, 1.20, 1.25,
    1.25, 1.25, 1.30, 1.35, 1.35, 1.30, 1.20, 1.05, 0.90, 0.75, 0.60, 0.45,
)  # fmt: skip
WEEKDAY_WEIGHTS: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 0.95, 0.75, 0.70)


@dataclass
class Call:
    """One scheduled LLM call: the example plus everything the agent's logging adds around it."""

    example: Example
    agent: str
    flag: str = ""  # "", "failed", "duplicate" or "repeat"
    error: str | None = None
    model: str = MODEL
    user: str = ""
    session: str = ""
    trace_id: str = ""
    span_id: str = ""
    parent_span_id: str | None = None
    start_ms: int = 0
    latency_ms: float = 0.0


def hex_id(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(4 * digits):0{digits}x}"


def make_units(examples: list[Example], failing: set[int], rng: random.Random) -> list[list[Call]]:
    """One unit per example; a failing example is preceded by its failed first attempt (the agent retries)."""
    agent = AGENTS[examples[0].kind] if examples else ""
    units: list[list[Call]] = []
    for i, example in enumerate(examples):
        call = Call(example=example, agent=agent)
        if i in failing:
            error = TIMEOUT if rng.random() < 0.6 else RATE_LIMITED
            units.append([Call(example=example, agent=agent, flag="failed", error=error), call])
        else:
            units.append([call])
    return units


def group_traces(units: list[list[Call]], rng: random.Random) -> list[list[Call]]:
    """Consecutive units packed into traces of 1-4 calls (a unit is never split)."""
    traces: list[list[Call]] = []
    current: list[Call] = []
    target = 1
    for unit in units:
        if current and len(current) + len(unit) > target:
            traces.append(current)
            current = []
        if not current:
            target = max(rng.choices(TRACE_SIZES, TRACE_SIZE_WEIGHTS)[0], len(unit))
        current.extend(unit)
    if current:
        traces.append(current)
    return traces


def hour_slots() -> list[float]:
    """Relative traffic of each hour of the window (weekday weight times hour-of-day weight)."""
    weekday = BASE_TIME.weekday()
    return [WEEKDAY_WEIGHTS[(weekday + d) % 7] * HOUR_WEIGHTS[h] for d in range(DAYS) for h in range(24)]


def session_start(rng: random.Random, slots: list[float]) -> int:
    """A random moment in the window, weighted by hour of day and day of week (milliseconds from BASE_TIME)."""
    (slot,) = rng.choices(range(len(slots)), slots)
    return min(slot * HOUR_MS + rng.randrange(HOUR_MS), WINDOW_MS - 30 * 60_000)


def time_trace(trace: list[Call], start_ms: int, model: str, rng: random.Random) -> int:
    """Time the calls of one trace (each follows the previous one's answer); return when the trace ends."""
    trace_id, parent, now = hex_id(rng, 32), None, start_ms
    for call in trace:
        call.model, call.trace_id, call.parent_span_id = model, trace_id, parent
        call.span_id = parent = hex_id(rng, 16)
        call.start_ms = now
        call.latency_ms = latency_ms(call.example, model, call.error, rng)
        backoff = rng.randint(1000, 4000) if call.error == RATE_LIMITED else rng.randint(30, 1500)
        now += int(call.latency_ms) + backoff
    return now


def run_sessions(traces: list[list[Call]], rng: random.Random, slots: list[float]) -> None:
    """Consecutive traces form sessions of 1-5 traces a few seconds to minutes apart, each by one pseudonymous
    user (users' activity is skewed: a few come back often); the model is fixed per session."""
    agent = traces[0][0].agent if traces else ""
    pool = [f"u-{hex_id(rng, 12)}" for _ in range(max(3, len(traces) // 7))]
    weights = [1.0 / (rank + 1) ** 0.8 for rank in range(len(pool))]
    i = 0
    while i < len(traces):
        size = rng.choices(SESSION_SIZES, SESSION_SIZE_WEIGHTS)[0]
        (user,) = rng.choices(pool, weights)
        session = f"s-{hex_id(rng, 16)}"
        model = MINI_MODEL if rng.random() < MINI_SHARE[agent] else MODEL
        now = session_start(rng, slots)
        for trace in traces[i : i + size]:
            now = time_trace(trace, now, model, rng) + rng.randint(5_000, 180_000)
            for call in trace:
                call.user, call.session = user, session
        i += size


def duplicate(original: Call, rng: random.Random) -> Call:
    """An exact re-send of a successful call (same request and answer), seconds to hours later, as its own trace."""
    delay = min(int(rng.lognormvariate(10.3, 1.5)), 6 * HOUR_MS)  # median about 30 s
    start = min(original.start_ms + int(original.latency_ms) + delay, WINDOW_MS - 1)
    copy = replace(original, flag="duplicate", trace_id=hex_id(rng, 32), span_id=hex_id(rng, 16), parent_span_id=None)
    copy.start_ms = start
    copy.latency_ms = latency_ms(original.example, original.model, None, rng)
    return copy


def schedule(
    examples: dict[str, list[Example]], rng: random.Random, failed_rate: float = 0.01, duplicate_rate: float = 0.015
) -> list[Call]:
    """All calls of all agents, sorted by start time."""
    total = sum(len(v) for v in examples.values())
    failing = set(rng.sample(range(total), round(failed_rate * total)))
    slots = hour_slots()
    calls: list[Call] = []
    offset = 0
    for kind in KINDS:
        batch = examples.get(kind, [])
        units = make_units(batch, {i - offset for i in failing if offset <= i < offset + len(batch)}, rng)
        offset += len(batch)
        traces = group_traces(units, rng)
        run_sessions(traces, rng, slots)
        calls.extend(call for trace in traces for call in trace)
    successful = [c for c in calls if c.flag != "failed"]
    calls.extend(duplicate(c, rng) for c in rng.sample(successful, round(duplicate_rate * total)))
    calls = by_time(calls)
    mark_repeats(calls)
    return calls


def by_time(calls: list[Call]) -> list[Call]:
    """The calls sorted by start time (ties: agent, trace, span), the order they are numbered in."""
    return sorted(calls, key=lambda c: (c.start_ms, c.agent, c.trace_id, c.span_id))


def mark_repeats(calls: list[Call]) -> None:
    """Flag "repeat" on the later answered copies of a question asked more than once (calls sorted by time)."""
    seen: set[str] = set()
    for call in calls:
        source_id = call.example.source_id
        if not source_id or call.flag in ("failed", "duplicate"):
            continue
        if source_id in seen:
            call.flag = "repeat"
        seen.add(source_id)


def timestamp(call: Call) -> datetime:
    return BASE_TIME + timedelta(milliseconds=call.start_ms)
