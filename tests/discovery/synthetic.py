"""A small synthetic agent trace of three call shapes, for the discovery tests (no model or data needed).

- `triage`: a support bot whose system prompt names the shop (a template variable); bare label answers.
- `extract`: flight-search slot extraction; JSON object answers.
- `tools`: a function-calling assistant offered two of three tools; tool-call answers.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone

from llm2slm.common.schema import CallRecord

BASE = datetime(2026, 10, 1, tzinfo=timezone.utc)
SHOPS = ["Acme Outfitters", "Borealis Gear", "Cobalt Shoes"]
LABELS = {
    "shipping_delay": ["my parcel still has not arrived", "where is my order, it is {d} days late",
                       "the delivery was supposed to come {day}", "tracking has not moved for {d} days"],
    "refund_request": ["I want my money back for the {item}", "please refund the {item} I returned",
                       "how long does a refund take", "I returned the {item} {d} days ago, no refund yet"],
    "damaged_item": ["the {item} arrived broken", "the box was crushed and the {item} is damaged",
                     "there is a tear in the {item}", "my {item} came scratched"],
    "wrong_size": ["the {item} is too small", "I ordered a medium {item} but got a large",
                   "can I swap the {item} for a bigger size", "the {item} does not fit"],
    "cancel_order": ["cancel my order please", "I changed my mind about the {item}, cancel it",
                     "stop the order I placed {day}", "please do not ship the {item}"],
}
ITEMS = ["jacket", "pair of boots", "backpack", "tent", "sweater", "rain coat"]
DAYS = ["yesterday", "on Monday", "last week", "on Friday"]
CITIES = ["Paris", "Lisbon", "Oslo", "Denver", "Osaka", "Cairo", "Lima", "Dublin"]
DATES = ["March 3rd", "next Friday", "June 12", "tomorrow", "the 21st"]
TOOLS = {
    "get_weather": ("Current weather for a city", {"city": {"type": "string"}}),
    "convert_currency": ("Convert an amount between currencies",
                         {"amount": {"type": "number"}, "source": {"type": "string"}, "target": {"type": "string"}}),
    "find_recipe": ("Find a recipe for a dish", {"dish": {"type": "string"}}),
}


def _base(i: int, system: str, user: str) -> dict:
    return {
        "id": f"call-{i:06d}", "timestamp": (BASE + timedelta(minutes=i)).isoformat(),
        "model": "gpt-4o-2024-08-06",
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        "finish_reason": "stop", "usage": {"prompt_tokens": 50, "completion_tokens": 5, "total_tokens": 55},
        "latency_ms": 300.0, "source": {"agent": "synthetic"},
    }


def triage(i: int, rng: random.Random) -> CallRecord:
    label = rng.choice(sorted(LABELS))
    user = rng.choice(LABELS[label]).format(d=rng.randint(2, 9), day=rng.choice(DAYS), item=rng.choice(ITEMS))
    system = (f"You are the support triage bot of {rng.choice(SHOPS)}. Classify the customer's message into exactly "
              f"one of these labels: {', '.join(sorted(LABELS))}. Reply with the label only.")
    data = _base(i, system, user)
    data["response"] = {"role": "assistant", "content": label}
    return CallRecord.model_validate(data)


def extract(i: int, rng: random.Random) -> CallRecord:
    origin, destination = rng.sample(CITIES, 2)
    fields = {"origin": origin, "destination": destination, "date": rng.choice(DATES),
              "passengers": str(rng.randint(1, 6))}
    keep = sorted(rng.sample(sorted(fields), rng.randint(1, 4)))
    phrases = {"origin": f"from {origin}", "destination": f"to {destination}", "date": f"on {fields['date']}",
               "passengers": f"for {fields['passengers']} people"}
    user = rng.choice(["I need a flight ", "Find me flights ", "Looking for a trip ", "Book something "])
    user += " ".join(phrases[k] for k in keep)
    system = ("You are the flight search assistant. Extract these fields from the traveller's message: origin, "
              "destination, date, passengers. Reply with a JSON object holding only the fields present.")
    data = _base(i, system, user)
    data["response"] = {"role": "assistant", "content": json.dumps({k: fields[k] for k in keep}, sort_keys=True)}
    return CallRecord.model_validate(data)


def tools(i: int, rng: random.Random) -> CallRecord:
    offered = sorted(rng.sample(sorted(TOOLS), 2))
    name = rng.choice(offered)
    if name == "get_weather":
        args: dict = {"city": rng.choice(CITIES)}
        user = rng.choice(["What's the weather in {city}?", "Is it raining in {city} now?"]).format(**args)
    elif name == "convert_currency":
        args = {"amount": rng.randint(5, 900), "source": "USD", "target": rng.choice(["EUR", "JPY", "GBP"])}
        user = "How much is {amount} {source} in {target}?".format(**args)
    else:
        args = {"dish": rng.choice(["lasagne", "pad thai", "ramen", "paella", "chili"])}
        user = rng.choice(["Give me a recipe for {dish}", "How do I cook {dish}?"]).format(**args)
    system = ("You are a helpful assistant with access to functions. Call the function that serves the request, "
              "with arguments taken from it.")
    data = _base(i, system, user)
    data["tools"] = [{"type": "function", "function": {"name": n, "description": TOOLS[n][0], "parameters": {
        "type": "object", "properties": TOOLS[n][1]}}} for n in offered]
    data["response"] = {"role": "assistant", "content": None, "tool_calls": [
        {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}]}
    data["finish_reason"] = "tool_calls"
    return CallRecord.model_validate(data)


MAKERS = {"triage": triage, "extract": extract, "tools": tools}


def trace(counts: dict[str, int], seed: int = 0) -> tuple[list[CallRecord], dict[str, str]]:
    """Records of the given kinds, interleaved at random, and the answer key {id: kind}."""
    rng = random.Random(seed)
    kinds = [kind for kind, n in counts.items() for _ in range(n)]
    rng.shuffle(kinds)
    records = [MAKERS[kind](i, rng) for i, kind in enumerate(kinds, start=1)]
    return records, {r.id: kind for r, kind in zip(records, kinds, strict=True)}


# The shared-prompt form: one generic system prompt, each kind's instruction in the user turn, in several wordings.
GENERIC = "You are a helpful assistant. Follow the instruction in the user's message."
WORDINGS = {
    "triage": ["Classify the customer's message into one of: {labels}. Reply with the label only.\n\nMessage:",
               "Which of these labels fits the message below? {labels}\nAnswer with just the label.",
               "Support triage. Labels: {labels}.\nReturn the single matching label for this message:"],
    "extract": ["Extract origin, destination, date and passengers from the traveller's message as JSON.\n\nMessage:",
                "Read the trip request below and return a JSON object with the fields it gives (origin, "
                "destination, date, passengers).",
                "Flight search: which of origin, destination, date, passengers does this message give? JSON only."],
    "tools": ["Use the provided functions to serve the request below.",
              "Call the right function for this request, arguments taken from it.",
              "Serve the following request with a function call."],
}
URGENCY = "Handle the customer's message as instructed.\n\nMessage:"  # one instruction, answered two ways


def shared(record: CallRecord, kind: str, rng: random.Random) -> CallRecord:
    """`record` in the shared-prompt form: the generic system prompt, the instruction (a random wording) above the
    user's words; answer, tools and id unchanged."""
    wording = rng.choice(WORDINGS[kind]).format(labels=", ".join(sorted(LABELS)))
    data = record.model_dump(mode="json", exclude_none=True)
    data["messages"] = [{"role": "system", "content": GENERIC},
                        {"role": "user", "content": f"{wording}\n{record.last_user_message()}"}]
    return CallRecord.model_validate(data)


def shared_trace(counts: dict[str, int], seed: int = 0) -> tuple[list[CallRecord], dict[str, str]]:
    """The kinds of `trace` in the shared-prompt form, plus two kinds one instruction serves: `urgency_label`
    (a bare label) and `urgency_json` (a JSON object) on the same customer messages."""
    rng = random.Random(seed)
    kinds = [kind for kind, n in counts.items() for _ in range(n)]
    rng.shuffle(kinds)
    records = []
    for i, kind in enumerate(kinds, start=1):
        if kind.startswith("urgency"):
            base = triage(i, rng)
            data = base.model_dump(mode="json", exclude_none=True)
            data["messages"] = [{"role": "system", "content": GENERIC},
                                {"role": "user", "content": f"{URGENCY}\n{base.last_user_message()}"}]
            level = rng.choice(["high", "low"])
            data["response"] = {"role": "assistant", "content": level if kind == "urgency_label"
                                else json.dumps({"urgency": level, "reply_within_hours": rng.choice([4, 24])})}
            records.append(CallRecord.model_validate(data))
        else:
            records.append(shared(MAKERS[kind](i, rng), kind, rng))
    return records, {r.id: kind for r, kind in zip(records, kinds, strict=True)}


def tool_result(i: int, rng: random.Random) -> CallRecord:
    """The tools agent's second call of a turn: it answers the weather tool's result in words."""
    city = rng.choice(CITIES)
    call = tools(i, rng).model_dump(mode="json", exclude_none=True)
    degrees, sky = rng.randint(-5, 35), rng.choice(["sunny", "cloudy", "raining", "windy"])
    call["messages"] = [
        call["messages"][0], {"role": "user", "content": f"What's the weather in {city}?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": f"t{i}", "type": "function", "function": {
            "name": "get_weather", "arguments": json.dumps({"city": city})}}]},
        {"role": "tool", "tool_call_id": f"t{i}", "content": json.dumps({"city": city, "celsius": degrees,
                                                                          "sky": sky})}]
    call["response"] = {"role": "assistant", "content": f"It is {degrees} °C and {sky} in {city} right now."}
    call["finish_reason"] = "stop"
    return CallRecord.model_validate(call)


MAKERS["tool_result"] = tool_result
