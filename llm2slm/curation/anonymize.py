"""Operators that replace found values, run through Presidio's AnonymizerEngine.

- `placeholder` (default): a typed placeholder numbered per call, `<PERSON_1>`, `<EMAIL_2>`; the same value gets
  the same placeholder in every field of one call, so the model still sees that two mentions are one thing.
- `hash`: Presidio's salted SHA-256 of the value (64 hex characters). The salt comes from an environment variable
  (16+ characters), so the same value hashes the same in every call and run, and nobody without the salt can test
  guesses against the hashes.
- `redact`: the type alone, `<PERSON>`, with no number: mentions can no longer be told apart.

Placeholders contain no quotes or backslashes, so they keep a JSON string valid.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

Found = tuple[int, int, str, float]  # (start, end, entity type, score); character offsets


@dataclass
class CallOperators:
    """Per-call state of the placeholder operator: the value -> placeholder table and the counts."""

    operator: str = "placeholder"
    salt: str | None = None
    placeholders: dict[tuple[str, str], str] = field(default_factory=dict)
    numbers: Counter = field(default_factory=Counter)  # entity type -> placeholders handed out
    counts: Counter = field(default_factory=Counter)  # (entity type, field) -> values replaced

    def placeholder(self, entity: str, value: str) -> str:
        key = (entity, value)
        if key not in self.placeholders:
            self.numbers[entity] += 1
            self.placeholders[key] = f"<{entity}_{self.numbers[entity]}>"
        return self.placeholders[key]

    def operator_configs(self, entities: set[str]) -> dict:
        from presidio_anonymizer.entities import OperatorConfig

        if self.operator == "hash":
            return {e: OperatorConfig("hash", {"hash_type": "sha256", "salt": self.salt}) for e in entities}
        if self.operator == "redact":
            return {e: OperatorConfig("replace", {"new_value": f"<{e}>"}) for e in entities}
        return {e: OperatorConfig("custom", {"lambda": lambda value, e=e: self.placeholder(e, value)})
                for e in entities}


def hash_salt(operator: str, env_name: str) -> str | None:
    """The salt for the hash operator, from `env_name`; a clear error when it is missing or too short."""
    if operator != "hash":
        return None
    salt = os.environ.get(env_name, "")
    if len(salt) < 16:
        raise ValueError(f"curate.operator is 'hash' but the environment variable {env_name} does not hold a salt "
                         "of at least 16 characters")
    return salt


def resolve_overlaps(found: list[Found]) -> list[Found]:
    """Non-overlapping results: higher score first, then the longer span, then the earlier start."""
    kept: list[Found] = []
    for item in sorted(found, key=lambda f: (-f[3], f[0] - f[1], f[0], f[2])):
        if all(item[1] <= k[0] or item[0] >= k[1] for k in kept):
            kept.append(item)
    return sorted(kept)


def anonymize(text: str, found: list[Found], state: CallOperators, where: str, engine) -> str:
    """`text` with every found value replaced by the call's operator; counts what was replaced per field."""
    from presidio_anonymizer.entities import RecognizerResult

    if not found:
        return text
    if state.operator == "placeholder":
        # replaced here rather than by Presidio's engine, which would merge the words of a name that the scrubber
        # keeps apart ("<PERSON_1> <PERSON_2>"); placeholders are numbered in reading order
        pieces, last = [], 0
        for start, end, entity, _ in sorted(found):
            pieces += [text[last:start], state.placeholder(entity, text[start:end])]
            state.counts[(entity, where)] += 1
            last = end
        return "".join(pieces) + text[last:]
    results = [RecognizerResult(entity, start, end, score) for start, end, entity, score in found]
    out = engine.anonymize(text=text, analyzer_results=results,
                           operators=state.operator_configs({f[2] for f in found}))
    for item in out.items:
        state.counts[(item.entity_type, where)] += 1
    return out.text
