"""One Schema-Guided Dialogue as the LLM calls of a tool-using agent: every SYSTEM turn is a call, two with a tool.

The request of each call holds the whole conversation so far (system prompt, user and assistant turns, earlier
tool calls and their `tool` results). A SYSTEM turn with a `service_call` is two calls: the tool call (the answer is
an assistant message with `tool_calls`, finish_reason `tool_calls`, the call's parameters as JSON arguments), then,
with that tool call and a `tool` message holding the results in the request, the reply (the SYSTEM utterance).
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from llm2slm.common.schema import FunctionCall, Message, Tool, ToolCall
from llm2slm.sample.common import Example, assistant, system, user
from llm2slm.sample.tools import call_id

# The "today" SGD's relative dates resolve against ("tomorrow" is 2019-03-02, "next Friday" 2019-03-08).
ANCHOR = date(2019, 3, 1)
MAX_EARLIER_DAYS = 7  # a dialogue with only absolute dates happens 1-7 days before the first of them
MAX_RESULTS = 10  # results a tool message holds (the most any call of the six services returns)
ISO_DATE = re.compile(r"\d{4}-\d\d-\d\d")
REPLY_LABEL = "reply"
RULES = (
    "Use the tools to look things up and to make bookings, purchases or transfers. Ask the user for any detail a "
    "tool needs that you do not have yet, and confirm the details with the user before you book, buy or transfer "
    "anything. Answer briefly and only from what the tools returned."
)


@dataclass
class Dialogue:
    """One user's conversation with one agent: its calls in order (each request extends the previous one)."""

    kind: str
    dialogue_id: str
    calls: list[Example] = field(default_factory=list)


def _actions(dialogue: dict[str, Any]) -> list[dict[str, Any]]:
    return [action for turn in dialogue["turns"] for frame in turn["frames"] for action in frame["actions"]]


def mentioned_dates(dialogue: dict[str, Any]) -> list[date]:
    """Every ISO date in the dialogue: its acts' canonical values, tool-call parameters and tool results."""
    values: list[str] = [v for action in _actions(dialogue) for v in action["canonical_values"]]
    for turn in dialogue["turns"]:
        for frame in turn["frames"]:
            values += list(frame.get("service_call", {}).get("parameters", {}).values())
            values += [v for result in frame.get("service_results", []) for v in result.values()]
    return sorted({date.fromisoformat(v) for v in values if ISO_DATE.fullmatch(v)})


def uses_relative_dates(dialogue: dict[str, Any]) -> bool:
    """Whether a date is said in words ("today", "next Friday"), which only reads right on SGD's own today."""
    for action in _actions(dialogue):
        for said, canonical in zip(action["values"], action["canonical_values"]):
            if ISO_DATE.fullmatch(canonical) and not re.search(r"\d", said):
                return True
    return False


def today_for(dialogue: dict[str, Any], rng: random.Random) -> date:
    """The agent's "today": SGD's anchor where the dialogue needs it (relative dates, or the anchor date itself,
    which a reservation takes by default), else a seeded day 1-7 days before the first date it mentions."""
    dates = mentioned_dates(dialogue)
    if uses_relative_dates(dialogue) or ANCHOR in dates:
        return ANCHOR
    first = dates[0] if dates else ANCHOR + timedelta(days=MAX_EARLIER_DAYS)
    return first - timedelta(days=rng.randint(1, MAX_EARLIER_DAYS))


def system_prompt(intro: str, today: date) -> str:
    """The agent's instructions: who it is, today's date (weekday, day, month, year) and how it works."""
    return f"{intro}\nToday is {today:%A}, {today.day} {today:%B %Y}.\n{RULES}"


def results_text(results: list[dict[str, Any]]) -> str:
    """The tool's answer as the tool message holds it: the first MAX_RESULTS results as a compact JSON list."""
    return json.dumps(results[:MAX_RESULTS], ensure_ascii=False, separators=(",", ":"))


def tool_call_message(service_call: dict[str, Any], rng: random.Random) -> Message:
    """The agent's tool call: the method with the call's parameters as JSON arguments, a seeded call id."""
    arguments = json.dumps(service_call["parameters"], ensure_ascii=False, separators=(",", ":"))
    call = ToolCall(id=call_id(rng), function=FunctionCall(name=service_call["method"], arguments=arguments))
    return Message(role="assistant", content=None, tool_calls=[call])


def system_turn_calls(
    turn: dict[str, Any], messages: list[Message], kind: str, tools: list[Tool], rng: random.Random
) -> list[Example]:
    """The one or two calls of a SYSTEM turn; `messages` (the conversation so far) is extended in place."""
    if not any(m.role == "user" for m in messages):
        raise ValueError("a SYSTEM turn before any USER turn")
    frame = turn["frames"][0]  # single-service dialogues: one frame per turn
    calls: list[Example] = []
    service_call = frame.get("service_call")
    if service_call:
        answer = tool_call_message(service_call, rng)
        label = f"tool_call:{service_call['method']}"
        calls.append(Example(kind, list(messages), answer, "tool_calls", label, tools))
        call_id_ = answer.tool_calls[0].id if answer.tool_calls else ""
        result = Message(role="tool", tool_call_id=call_id_, content=results_text(frame.get("service_results", [])))
        messages += [answer, result]
    reply = assistant(turn["utterance"])
    calls.append(Example(kind, list(messages), reply, "stop", REPLY_LABEL, tools))
    messages.append(reply)
    return calls


def dialogue_calls(
    dialogue: dict[str, Any], kind: str, intro: str, tools: list[Tool], rng: random.Random
) -> Dialogue:
    """All calls of one dialogue, in order; the system prompt carries the dialogue's own "today"."""
    messages: list[Message] = [system(system_prompt(intro, today_for(dialogue, rng)))]
    out = Dialogue(kind=kind, dialogue_id=dialogue["dialogue_id"])
    for turn in dialogue["turns"]:
        if turn["speaker"] == "USER":
            messages.append(user(turn["utterance"]))
        else:
            out.calls.extend(system_turn_calls(turn, messages, kind, tools, rng))
    return out


def count_calls(dialogue: dict[str, Any]) -> int:
    """How many calls a dialogue becomes: one per SYSTEM turn, one more per tool call."""
    system_turns = [t for t in dialogue["turns"] if t["speaker"] == "SYSTEM"]
    return len(system_turns) + sum(1 for t in system_turns if t["frames"] and "service_call" in t["frames"][0])
