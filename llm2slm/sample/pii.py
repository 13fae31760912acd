"""Planting personal data: synthetic names, emails, phones, card numbers and addresses in some user messages.

Values come from the Presidio synthetic PII set (fake, Faker-style). A template such as "You can reach me at
{PHONE_NUMBER}." is filled and prepended or appended to the user's message; the LLM's answer does not change.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

from llm2slm.curation.patterns import luhn_valid
from llm2slm.sample.common import Example, read_json_gz

PII_TYPES: tuple[str, ...] = ("PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "STREET_ADDRESS")
PLACEHOLDER = re.compile(r"\{([A-Z_]+)\}")


@dataclass(frozen=True)
class Template:
    text: str
    prefix: bool  # True: put before the message, False: after it

    def types(self) -> tuple[str, ...]:
        return tuple(PLACEHOLDER.findall(self.text))


GENERAL: tuple[Template, ...] = (
    Template("Hi, I'm {PERSON}. ", True),
    Template("This is {PERSON}, please copy {EMAIL_ADDRESS} on your reply. ", True),
    Template("Name: {PERSON}, phone: {PHONE_NUMBER}. ", True),
    Template(" You can reach me at {PHONE_NUMBER}.", False),
    Template(" My email is {EMAIL_ADDRESS}.", False),
    Template(" Please reply to {EMAIL_ADDRESS}.", False),
    Template(" (card {CREDIT_CARD})", False),
    Template(" My card number is {CREDIT_CARD}.", False),
    Template(" I live at {STREET_ADDRESS}.", False),
    Template(" Thanks, {PERSON}, {PHONE_NUMBER}", False),
    Template(" Billing address {STREET_ADDRESS}, card {CREDIT_CARD}.", False),
    Template(" Call me at {PHONE_NUMBER} or email {EMAIL_ADDRESS}.", False),
)
# Booking turns must not gain names: first_name/last_name are fields the agent extracts.
BOOKING: tuple[Template, ...] = (
    Template(" My number is {PHONE_NUMBER} in case you need to reach me.", False),
    Template(" Please send the confirmation to {EMAIL_ADDRESS}.", False),
    Template(" You can hold the table with card {CREDIT_CARD}.", False),
    Template("(phone {PHONE_NUMBER}) ", True),
    Template(" We're coming from {STREET_ADDRESS}.", False),
    Template(" Email {EMAIL_ADDRESS}, phone {PHONE_NUMBER}.", False),
    Template(" Deposit card: {CREDIT_CARD}.", False),
)

# Turns of a conversation with a tool-using assistant (Schema-Guided Dialogue agents).
CONVERSATION: tuple[Template, ...] = (
    Template("Hi, this is {PERSON}. ", True),
    Template(" My phone number is {PHONE_NUMBER} if you need it.", False),
    Template(" Send the details to {EMAIL_ADDRESS}, please.", False),
    Template(" You can charge it to my card {CREDIT_CARD}.", False),
    Template(" I'm at {STREET_ADDRESS} right now.", False),
    Template("({PERSON}, {PHONE_NUMBER}) ", True),
    Template(" Text me at {PHONE_NUMBER} or email {EMAIL_ADDRESS}.", False),
    Template(" My email is {EMAIL_ADDRESS}.", False),
)
# Where names are values the agent works with (a transfer's recipient), the user never gives their own name.
CONVERSATION_NO_NAMES: tuple[Template, ...] = tuple(t for t in CONVERSATION if "PERSON" not in t.types())


def _clean(kind: str, value: str) -> str | None:
    """Normalise one value (one-line addresses) or reject it (fragments, non-card numbers)."""
    value = re.sub(r"\s*\n\s*,?\s*", ", ", value.strip())
    digits = re.sub(r"\D", "", value)
    if kind == "PERSON":
        words = value.split()
        return value if len(words) >= 2 and all(w[:1].isupper() for w in words) else None
    if kind == "CREDIT_CARD":
        return value if 13 <= len(digits) <= 19 and luhn_valid(digits) else None
    if kind == "PHONE_NUMBER":
        return value if len(digits) >= 7 else None
    if kind == "STREET_ADDRESS":
        ok = len(value.split()) >= 3 and digits and re.search(r"[A-Za-z]{3}", value)
        return value if ok and not value.startswith(("Suite", "Apt")) else None
    return value if "@" in value else None


def load_values(sources: Path) -> dict[str, list[str]]:
    """Distinct cleaned values by entity type, in order of first appearance."""
    values: dict[str, list[str]] = {kind: [] for kind in PII_TYPES}
    for record in read_json_gz(sources / "presidio_synth_pii" / "synth_dataset_v2.json.gz"):
        for span in record["spans"]:
            kind = span["entity_type"]
            if kind in values:
                value = _clean(kind, span["entity_value"])
                if value and value not in values[kind]:
                    values[kind].append(value)
    return values


def plant_text(text: str, template: Template, values: dict[str, list[str]], rng: random.Random) -> str:
    """`text` with the template filled (one random value per placeholder) put before or after it."""
    filled = PLACEHOLDER.sub(lambda m: rng.choice(values[m.group(1)]), template.text)
    if template.prefix:
        return filled + text
    end = "" if not text or text[-1] in ".?!)" else "."
    return text + end + filled if filled.startswith(" ") and filled[1:2].isupper() else text + filled


def plant(example: Example, template: Template, values: dict[str, list[str]], rng: random.Random) -> Example:
    new_text = plant_text(example.user_text(), template, values, rng)
    return example.with_user_text(new_text, tuple(sorted(set(template.types()))))


def plant_pii(examples: list[Example], rate: float, values: dict[str, list[str]], rng: random.Random) -> list[Example]:
    """Return a copy of `examples` where round(rate * n) messages, chosen at random, carry planted PII."""
    if not examples:
        return []
    templates = BOOKING if examples[0].kind == "slot_extraction" else GENERAL
    chosen = set(rng.sample(range(len(examples)), round(rate * len(examples))))
    return [plant(e, rng.choice(templates), values, rng) if i in chosen else e for i, e in enumerate(examples)]


def planted_values(text: str, types: tuple[str, ...], values: dict[str, list[str]]) -> list[str]:
    """The values of `values` (`load_values`) of the answer key's `types` that a user message holds, longest
    first and none inside another: what `plant` put there."""
    found: list[str] = []
    for kind in types:
        for value in sorted((v for v in values.get(kind, ()) if v in text), key=len, reverse=True):
            if not any(value in longer for longer in found):
                found.append(value)
    return found
