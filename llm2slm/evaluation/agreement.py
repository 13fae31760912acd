"""Does a specialist's answer agree with the LLM's? Compared by meaning of the answer's form, not by bytes:
JSON answers (objects, tool-call lists) compare as parsed values, tool calls in any order; text compares with
surrounding white space and case folded."""

from __future__ import annotations

import json
from typing import Any


def _canonical(text: str) -> Any:
    stripped = (text or "").strip()
    if stripped[:1] in "[{":
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError:
            return stripped.casefold()
        if isinstance(value, list):
            return sorted(json.dumps(item, sort_keys=True) for item in value)
        return json.dumps(value, sort_keys=True)
    return " ".join(stripped.split()).casefold()


def answer_key(text: str) -> str:
    """One string per meaning: two answers agree exactly when their keys are equal (counts answers by meaning)."""
    return json.dumps(_canonical(text))


def answers_agree(predicted: str, reference: str) -> bool:
    return _canonical(predicted) == _canonical(reference)


def agreement(predicted: list[str], reference: list[str]) -> float:
    if len(predicted) != len(reference):
        raise ValueError(f"{len(predicted)} predictions for {len(reference)} references")
    if not reference:
        return 0.0
    return sum(answers_agree(p, r) for p, r in zip(predicted, reference, strict=True)) / len(reference)
