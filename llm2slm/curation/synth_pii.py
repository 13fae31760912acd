"""The Presidio synthetic PII set as labelled data: entity-type mapping, template split, token labels.

Records hold `full_text`, the `masked` template it was filled from and the entity `spans`. A template's id is its
`masked` text, lower-cased with whitespace collapsed; the split puts each template wholly in training or in
evaluation, chosen by a seeded hash of the id, so no template seen in training is scored.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

from llm2slm.curation.ner import Token, tokenize

SYNTH_PATH = Path("data/sources/presidio_synth_pii/synth_dataset_v2.json.gz")

# Dataset entity type -> llm2slm entity type. Types not listed are out of scope (not scored).
TYPE_MAP: dict[str, str] = {
    "PERSON": "PERSON",
    "GPE": "LOCATION",
    "STREET_ADDRESS": "LOCATION",
    "ZIP_CODE": "LOCATION",
    "ORGANIZATION": "ORGANIZATION",
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN",
    "IP_ADDRESS": "IP_ADDRESS",
    "US_SSN": "SSN",
    "DOMAIN_NAME": "URL",
}
OUT_OF_SCOPE: tuple[str, ...] = ("DATE_TIME", "TITLE", "AGE", "NRP", "US_DRIVER_LICENSE")
NER_TYPES: tuple[str, ...] = ("PERSON", "LOCATION", "ORGANIZATION")
_SLOT = re.compile(r"\{\{([A-Z_]+)\}\}")


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    kind: str  # dataset entity type


@dataclass(frozen=True)
class Example:
    text: str
    template: str
    spans: tuple[Span, ...]


def template_id(masked: str) -> str:
    return " ".join(masked.lower().split())


def load_examples(path: Path) -> list[Example]:
    if not path.is_file():
        raise FileNotFoundError(f"synthetic PII set {path} not found")
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        records = json.load(handle)
    return [Example(r["full_text"], template_id(r["masked"]),
                    tuple(Span(s["start_position"], s["end_position"], s["entity_type"]) for s in r["spans"]))
            for r in records]


def is_eval_template(template: str, seed: int, eval_fraction: float) -> bool:
    digest = hashlib.sha256(f"{seed}:{template}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < eval_fraction


def split_by_template(examples: list[Example], seed: int, eval_fraction: float) -> tuple[list[Example], list[Example]]:
    """(training, evaluation) with every template wholly on one side."""
    train = [e for e in examples if not is_eval_template(e.template, seed, eval_fraction)]
    held_out = [e for e in examples if is_eval_template(e.template, seed, eval_fraction)]
    return train, held_out


def covering_seed(examples: list[Example], seed: int, eval_fraction: float, tries: int = 100) -> int:
    """The first seed from `seed` on whose held-out templates contain every scored type (rare types such as
    IP_ADDRESS occur in few templates, and a split without them could not score them)."""
    wanted = set(TYPE_MAP)
    for candidate in range(seed, seed + tries):
        _, held_out = split_by_template(examples, candidate, eval_fraction)
        if wanted <= {s.kind for e in held_out for s in e.spans}:
            return candidate
    raise ValueError(f"no seed in {seed}..{seed + tries - 1} puts every scored type in the held-out templates")


def token_labels(tokens: list[Token], spans: tuple[Span, ...] | list[Span]) -> list[str | None]:
    """Each token's gold dataset type (the span it overlaps), None when it is in no span."""
    labels: list[str | None] = []
    for token in tokens:
        kind = None
        for span in spans:
            if token.start < span.end and token.end > span.start:
                kind = span.kind
                break
        labels.append(kind)
    return labels


def ner_label(kind: str | None) -> str:
    mapped = TYPE_MAP.get(kind or "", "O")
    return mapped if mapped in NER_TYPES else "O"


def augment(train: list[Example], per_template: int, seed: int) -> list[Example]:
    """New fillings of the training templates with values seen in training (same type), `per_template` each."""
    rng = random.Random(seed)
    values: dict[str, list[str]] = {}
    masked: dict[str, str] = {}
    for example in train:
        for span in example.spans:
            values.setdefault(span.kind, []).append(example.text[span.start:span.end])
    for example in train:
        masked.setdefault(example.template, _masked_from(example))
    out: list[Example] = []
    for template in sorted(masked):
        if not _SLOT.search(masked[template]):
            continue
        for _ in range(per_template):
            out.append(_fill(masked[template], template, values, rng))
    return out


def _masked_from(example: Example) -> str:
    text = example.text
    kept: list[Span] = []
    for span in sorted(example.spans, key=lambda s: s.start - s.end):  # longest first; nested spans dropped
        if all(span.end <= k.start or span.start >= k.end for k in kept):
            kept.append(span)
    for span in sorted(kept, key=lambda s: s.start, reverse=True):
        text = text[:span.start] + "{{" + span.kind + "}}" + text[span.end:]
    return text


def _fill(masked: str, template: str, values: dict[str, list[str]], rng: random.Random) -> Example:
    parts: list[str] = []
    spans: list[Span] = []
    position = 0
    cursor = 0
    for match in _SLOT.finditer(masked):
        parts.append(masked[cursor:match.start()])
        position += match.start() - cursor
        value = rng.choice(values.get(match.group(1), [match.group(1).title()]))
        spans.append(Span(position, position + len(value), match.group(1)))
        parts.append(value)
        position += len(value)
        cursor = match.end()
    parts.append(masked[cursor:])
    return Example("".join(parts), template, tuple(spans))


def ner_training_rows(examples: list[Example]) -> list[tuple[list[str], list[str]]]:
    """(words, NER labels) per example."""
    rows = []
    for example in examples:
        tokens = tokenize(example.text)
        rows.append(([t.text for t in tokens], [ner_label(k) for k in token_labels(tokens, example.spans)]))
    return rows
