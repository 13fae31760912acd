"""Slot extraction (Restaurant-8k): a table-booking agent pulls the booking details out of each customer turn."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from llm2slm.sample.common import Example, answer_json, assistant, read_json_gz, system, user

SLOTS: tuple[str, ...] = ("people", "date", "time", "first_name", "last_name")

PROMPT = (
    "You are the booking assistant of Marlowe's, a restaurant group taking table reservations by chat. From the "
    "customer's latest message, extract these fields: people, date, time, first_name, last_name.\n"
    "- Copy each value exactly as the customer wrote it (e.g. \"4\", \"four of us\", \"next Friday\", \"7pm\").\n"
    "- Use the conversation so far to interpret short answers such as \"6\".\n"
    "- Leave out fields the message does not mention.\n"
    "Reply with a JSON object only, e.g. {\"people\": \"4\", \"time\": \"7pm\"}, or {} when there is nothing to "
    "extract."
)

# What the agent asked just before the customer's turn, by requested slot(s); two phrasings each.
QUESTIONS: dict[tuple[str, ...], tuple[str, str]] = {
    ("people",): ("How many people will be joining?", "For how many guests should I book the table?"),
    ("date",): ("What date would you like to book for?", "Which day would you like to come in?"),
    ("time",): ("What time would you like the table?", "What time should I reserve it for?"),
    ("first_name",): ("Could I have your first name, please?", "What's your first name?"),
    ("last_name",): ("And your last name?", "Could I get your surname for the booking?"),
    ("first_name", "last_name"): (
        "What name should I put the reservation under?",
        "Can I take your first and last name for the booking?",
    ),
}
SLOT_WORDS: dict[str, str] = {
    "people": "number of guests",
    "date": "date",
    "time": "time",
    "first_name": "first name",
    "last_name": "last name",
}


def requested_slots(record: dict[str, Any]) -> tuple[str, ...]:
    """The slots the agent had just asked for, de-duplicated in order."""
    slots: list[str] = []
    for slot in (record.get("context") or {}).get("requestedSlots", []):
        if slot not in slots:
            slots.append(slot)
    return tuple(slots)


def extract(record: dict[str, Any]) -> dict[str, str]:
    """Gold slot values; an absent startIndex means 0 (protobuf default)."""
    text: str = record["userInput"]["text"]
    values: dict[str, str] = {}
    for label in record.get("labels", []):
        span = label["valueSpan"]
        values.setdefault(label["slot"], text[span.get("startIndex", 0) : span["endIndex"]])
    return values


def question(slots: tuple[str, ...], rng: random.Random) -> str:
    if slots in QUESTIONS:
        return rng.choice(QUESTIONS[slots])
    if set(slots) == {"first_name", "last_name"}:
        return rng.choice(QUESTIONS[("first_name", "last_name")])
    words = [SLOT_WORDS[s] for s in slots]
    listed = ", ".join(words[:-1]) + " and " + words[-1]
    return rng.choice((f"Could you tell me the {listed}?", f"Great. What {listed} would you like?"))


def load_turns(sources: Path) -> list[dict[str, Any]]:
    """All customer turns (train then test), first occurrence of each (text, requested slots) pair kept."""
    turns: list[dict[str, Any]] = []
    seen: set[tuple[str, tuple[str, ...]]] = set()
    for name in ("train_0.json.gz", "test.json.gz"):
        for record in read_json_gz(sources / "restaurant8k" / name):
            key = (record["userInput"]["text"], requested_slots(record))
            if key[0].strip() and key not in seen:
                seen.add(key)
                turns.append(record)
    return turns


def build_slots(sources: Path, rng: random.Random, total: int) -> list[Example]:
    turns = load_turns(sources)
    examples: list[Example] = []
    for record in rng.sample(turns, min(total, len(turns))):
        messages = [system(PROMPT)]
        slots = requested_slots(record)
        if slots:
            messages.append(assistant(question(slots, rng)))
        messages.append(user(record["userInput"]["text"]))
        answer = answer_json(extract(record))
        examples.append(
            Example(
                kind="slot_extraction",
                messages=messages,
                response=assistant(answer),
                finish_reason="stop",
                label=answer,
            )
        )
    return examples
