"""Specialists that misbehave on purpose, for the router's fallback tests: each wraps a real loaded specialist
(its `meta`, `kind` and, unless told otherwise, its answers) and fails the way a test asks."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any


class FaultySpecialist:
    """`fault`: "raise" (every call raises), "slow" (sleeps `delay_s` first), "answer" (answers `answer` with
    `confidence`), or None (the wrapped specialist's own answers)."""

    def __init__(self, inner: Any, fault: str | None = None, delay_s: float = 0.0, answer: str = "",
                 confidence: float = 1.0):
        self.inner, self.fault, self.delay_s = inner, fault, delay_s
        self.answer, self.confidence = answer, confidence
        self.meta, self.kind = inner.meta, inner.kind
        self.calls = 0

    def predict_with_confidence(self, rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, float]]:
        self.calls += len(rows)
        if self.fault == "raise":
            raise RuntimeError("injected specialist failure")
        if self.fault == "slow":
            time.sleep(self.delay_s)
        if self.fault == "answer":
            return [(self.answer, self.confidence) for _ in rows]
        return self.inner.predict_with_confidence(rows)
