"""Multi-turn tool-using agents from the Schema-Guided Dialogue dataset (SGD): one agent per service.

`data/sources/sgd/` holds, per service, the dialogues the bundled trace uses (picked by `select_dialogues`, see
`scripts/trim_sgd.py`) and the services' schema. Each agent offers its service's intents as tools
(`sgd_tools`) and turns each dialogue into a trajectory of calls (`sgd_dialogues`). Personal data is planted per
dialogue: in one user turn, and so in every later call whose request holds that turn.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from llm2slm.sample.common import Example, read_json_gz
from llm2slm.sample.pii import CONVERSATION, CONVERSATION_NO_NAMES, Template, plant_text
from llm2slm.sample.sgd_dialogues import Dialogue, count_calls, dialogue_calls
from llm2slm.sample.sgd_tools import schema_by_service, service_tools

SGD_DIR = "sgd"
SCHEMA_FILE = "schema.json"
TRIM_CALLS_PER_AGENT = 1480  # calls per agent the bundled dialogues make (whole dialogues, so a few more)


@dataclass(frozen=True)
class Service:
    """An SGD service and the agent built on it."""

    name: str  # the SGD service name, e.g. "Flights_1"
    intro: str  # the first line of the agent's system prompt

    def dialogue_file(self) -> str:
        return f"dialogues_{self.name}.json.gz"


SERVICES: dict[str, Service] = {
    "sgd_flights": Service("Flights_1", "You are the flight assistant of Wayfare, a travel app. You help users "
                           "find one-way and round-trip flights and book the ones they choose."),
    "sgd_restaurants": Service("Restaurants_1", "You are the dining assistant of Forkful. You help users find "
                               "restaurants by city and cuisine and reserve tables."),
    "sgd_music": Service("Music_2", "You are the music assistant of Tempo, a streaming service. You help users "
                         "find songs by artist, album or genre and play them on their devices."),
    "sgd_movies": Service("Movies_1", "You are the cinema assistant of Reelhouse. You help users find movies "
                          "playing near them, look up show times and buy tickets."),
    "sgd_hotels": Service("Hotels_2", "You are the stays assistant of Hearthway, a short-term rental platform. "
                          "You help users find houses to stay in and book them."),
    "sgd_banks": Service("Banks_1", "You are the account assistant of Northgate Bank. You help customers check "
                         "their account balances and transfer money."),
}


def load_schema(sources: Path) -> dict[str, dict[str, Any]]:
    """The services' schema entries by service name (plain JSON, as upstream)."""
    path = sources / SGD_DIR / SCHEMA_FILE
    if not path.is_file():
        raise FileNotFoundError(f"sample source file missing: {path}")
    return schema_by_service(json.loads(path.read_text(encoding="utf-8")))


def load_dialogues(folder: Path, service: Service) -> list[dict[str, Any]]:
    """One service's dialogues (a gzip JSON array, the upstream format), in file order."""
    dialogues: list[dict[str, Any]] = read_json_gz(folder / service.dialogue_file())
    wrong = [d["dialogue_id"] for d in dialogues if d["services"] != [service.name]]
    if wrong:
        raise ValueError(f"{service.dialogue_file()}: dialogues {wrong[:3]} are not single-service {service.name}")
    return dialogues


def bundled_dialogues(sources: Path) -> list[dict[str, Any]]:
    """Every bundled dialogue of every service, in service then file order."""
    return [d for service in SERVICES.values() for d in load_dialogues(sources / SGD_DIR, service)]


def select_dialogues(dialogues: list[dict[str, Any]], target: int | None, rng: random.Random) -> list[dict[str, Any]]:
    """The dialogues in a seeded order, cut after the first whose calls reach `target` (None: all of them)."""
    order = rng.sample(dialogues, len(dialogues))
    if target is None:
        return order
    picked: list[dict[str, Any]] = []
    calls = 0
    for dialogue in order:
        if calls >= target:
            break
        picked.append(dialogue)
        calls += count_calls(dialogue)
    return picked


def build_agent(sources: Path, kind: str, rng: random.Random, target: int | None = None) -> list[Dialogue]:
    """One agent's dialogues as calls: the bundled dialogues in a seeded order (the first reaching `target` calls
    when given), each with its own "today" and seeded tool-call ids."""
    service = SERVICES[kind]
    schema = load_schema(sources)
    if service.name not in schema:
        raise KeyError(f"{sources / SGD_DIR / SCHEMA_FILE}: no schema for service {service.name}")
    tools = service_tools(schema[service.name])
    picked = select_dialogues(load_dialogues(sources / SGD_DIR, service), target, rng)
    return [dialogue_calls(d, kind, service.intro, tools, rng) for d in picked]


def user_positions(dialogue: Dialogue) -> list[int]:
    """Indices of the user messages in the dialogue's last request (the same index in every earlier request)."""
    return [i for i, m in enumerate(dialogue.calls[-1].messages) if m.role == "user"] if dialogue.calls else []


def plant_at(dialogue: Dialogue, position: int, text: str, types: tuple[str, ...]) -> Dialogue:
    """The dialogue with user message `position` reading `text` in every call whose request holds it."""
    calls: list[Example] = []
    for call in dialogue.calls:
        if len(call.messages) <= position:
            calls.append(call)
            continue
        messages = list(call.messages)
        messages[position] = messages[position].model_copy(update={"content": text})
        calls.append(replace(call, messages=messages, pii_types=types))
    return replace(dialogue, calls=calls)


def templates_for(kind: str) -> tuple[Template, ...]:
    """Bank customers name transfer recipients, so their turns never gain a name of their own."""
    return CONVERSATION_NO_NAMES if kind == "sgd_banks" else CONVERSATION


def plant_dialogues(
    dialogues: list[Dialogue], rate: float, values: dict[str, list[str]], rng: random.Random
) -> list[Dialogue]:
    """Plant one template in one user turn of seeded dialogues until about `rate` of all calls hold planted PII."""
    target = round(rate * sum(len(d.calls) for d in dialogues))
    out = list(dialogues)
    holding = 0
    for index in rng.sample(range(len(dialogues)), len(dialogues)):
        if holding >= target:
            break
        positions = user_positions(dialogues[index])
        if not positions:
            continue
        position = rng.choice(positions)
        template = rng.choice(templates_for(dialogues[index].kind))
        original = dialogues[index].calls[-1].messages[position].content or ""
        text = plant_text(original, template, values, rng)
        out[index] = plant_at(dialogues[index], position, text, tuple(sorted(set(template.types()))))
        holding += sum(1 for call in out[index].calls if call.pii_types)
    return out
