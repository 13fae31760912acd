"""Scheduling the multi-turn agents: a dialogue is one user's session and one trace, its calls chained in time.

Each call's parent span is the previous call of the dialogue. After a tool call the tool runs (tens to hundreds of
milliseconds) before the reply call; after a reply the user reads it and types the next turn (seconds to tens of
seconds). A failed call (timeout or rate limit) is followed, in the same trace, by the agent's retry of the same
request. SGD calls get no `duplicate` re-sends: a mid-conversation request re-sent as a trace of its own would
not be a trajectory.
"""

from __future__ import annotations

import random

from llm2slm.sample.common import AGENTS
from llm2slm.sample.sgd_dialogues import Dialogue
from llm2slm.sample.traffic import MINI_MODEL, MODEL, MINI_SHARE, WINDOW_MS, Call, hex_id, session_start
from llm2slm.sample.usage import RATE_LIMITED, TIMEOUT, latency_ms

TOOL_RUN_MS: tuple[int, int] = (40, 900)  # the tool's own run time, milliseconds
THINK_BASE_MS = 1500.0  # a user's pause before reading, milliseconds
READ_MS_PER_CHAR = 40.0  # reading the reply, about 25 characters a second
TYPE_MS_PER_CHAR = 250.0  # typing the next turn, about 4 characters a second
THINK_RANGE_MS: tuple[int, int] = (2_000, 120_000)  # think time is clipped to 2 s - 2 min
USERS_PER_DIALOGUE = 1 / 3  # the agent's user pool: a third as many users as dialogues (some come back)


def dialogue_units(dialogue: Dialogue, failing: set[int], rng: random.Random) -> list[Call]:
    """The dialogue's calls, a failing one preceded by its failed first attempt (same request)."""
    agent = AGENTS[dialogue.kind]
    calls: list[Call] = []
    for i, example in enumerate(dialogue.calls):
        if i in failing:
            error = TIMEOUT if rng.random() < 0.6 else RATE_LIMITED
            calls.append(Call(example=example, agent=agent, flag="failed", error=error))
        calls.append(Call(example=example, agent=agent))
    return calls


def think_ms(reply: str, next_user: str, rng: random.Random) -> int:
    """The user's time between the agent's reply and their next message: reading plus typing, with noise."""
    expected = THINK_BASE_MS + READ_MS_PER_CHAR * len(reply) + TYPE_MS_PER_CHAR * len(next_user)
    low, high = THINK_RANGE_MS
    return int(min(max(expected * rng.lognormvariate(0.0, 0.4), low), high))


def gap_after(calls: list[Call], i: int, rng: random.Random) -> int:
    """Milliseconds between the end of call i and the start of call i + 1."""
    call = calls[i]
    if call.error is not None:
        return rng.randint(1000, 4000) if call.error == RATE_LIMITED else rng.randint(30, 1500)
    if call.example.response.tool_calls:
        return rng.randint(*TOOL_RUN_MS)
    following = calls[i + 1].example.user_text() if i + 1 < len(calls) else ""
    return think_ms(call.example.response.content or "", following, rng)


def time_dialogue(calls: list[Call], start_ms: int, model: str, rng: random.Random) -> None:
    """Give the calls one trace, chained spans, the model, latencies and start times from `start_ms` (kept inside
    the window: a dialogue that would run past its end starts earlier)."""
    trace_id, parent, offset = hex_id(rng, 32), None, 0
    offsets: list[int] = []
    for i, call in enumerate(calls):
        call.model, call.trace_id, call.parent_span_id = model, trace_id, parent
        call.span_id = parent = hex_id(rng, 16)
        call.latency_ms = latency_ms(call.example, model, call.error, rng)
        offsets.append(offset)
        offset += int(call.latency_ms) + (gap_after(calls, i, rng) if i + 1 < len(calls) else 0)
    start = min(start_ms, WINDOW_MS - offset - 1_000)
    for call, at in zip(calls, offsets):
        call.start_ms = start + at


def schedule_dialogues(
    dialogues: list[Dialogue], rng: random.Random, slots: list[float], failed_rate: float = 0.01
) -> list[Call]:
    """All calls of one agent's dialogues, one session per dialogue by a user of the agent's skewed pool."""
    if not dialogues:
        return []
    agent = AGENTS[dialogues[0].kind]
    total = sum(len(d.calls) for d in dialogues)
    failing = set(rng.sample(range(total), round(failed_rate * total)))
    pool = [f"u-{hex_id(rng, 12)}" for _ in range(max(3, round(len(dialogues) * USERS_PER_DIALOGUE)))]
    weights = [1.0 / (rank + 1) ** 0.8 for rank in range(len(pool))]
    calls: list[Call] = []
    offset = 0
    for dialogue in dialogues:
        units = dialogue_units(dialogue, {i - offset for i in failing if offset <= i < offset + len(dialogue.calls)},
                               rng)
        offset += len(dialogue.calls)
        (user,) = rng.choices(pool, weights)
        session = f"s-{hex_id(rng, 16)}"
        model = MINI_MODEL if rng.random() < MINI_SHARE[agent] else MODEL
        time_dialogue(units, session_start(rng, slots), model, rng)
        for call in units:
            call.user, call.session = user, session
        calls.extend(units)
    return calls
