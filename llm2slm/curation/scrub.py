"""Pattern scrubber for emails, phone numbers and payment card numbers.

Each value found is replaced by a typed placeholder numbered per call (`<EMAIL_1>`, `<PHONE_2>`): the same value
gets the same placeholder everywhere in one call, so the model still sees that two mentions are the same thing.
Card numbers must pass the Luhn checksum; phone numbers need 9 to 15 digits. Placeholders contain no quotes or
backslashes, so scrubbing inside a JSON-encoded tool-call argument string keeps it valid JSON.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

EMAIL_RE = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
CARD_RE = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
PHONE_RE = re.compile(
    r"(?<![\w+])(?:\+?\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?|\d{2,4}[\s.-])\d{2,4}[\s.-]?\d{3,4}"
    r"(?:\s?(?:x|ext\.?)\s?\d{1,5})?(?![\w])"
)
PATTERNS: dict[str, re.Pattern[str]] = {"EMAIL": EMAIL_RE, "CREDIT_CARD": CARD_RE, "PHONE": PHONE_RE}
ORDER = ("EMAIL", "CREDIT_CARD", "PHONE")  # cards before phones: a card number also looks like digits


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _accept(kind: str, text: str) -> bool:
    digits = re.sub(r"\D", "", text)
    if kind == "CREDIT_CARD":
        return 13 <= len(digits) <= 19 and luhn_valid(digits)
    if kind == "PHONE":
        main = re.split(r"\s?(?:x|ext\.?)\s?", text)[0]  # an extension does not count towards the length
        return 9 <= len(re.sub(r"\D", "", main)) <= 15
    return True


@dataclass
class CallScrubber:
    """Scrubs the text fields of one call; keeps the placeholder numbering and counts."""

    kinds: tuple[str, ...] = ORDER
    placeholders: dict[tuple[str, str], str] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)  # (kind, field) -> values replaced

    def _placeholder(self, kind: str, value: str) -> str:
        key = (kind, value)
        if key not in self.placeholders:
            number = sum(1 for k, _ in self.placeholders if k == kind) + 1
            self.placeholders[key] = f"<{kind}_{number}>"
        return self.placeholders[key]

    def scrub(self, text: str | None, where: str) -> str | None:
        if not text:
            return text
        for kind in ORDER:
            if kind not in self.kinds:
                continue

            def replace(match: re.Match[str], kind: str = kind) -> str:
                value = match.group(0)
                if not _accept(kind, value):
                    return value
                self.counts[(kind, where)] += 1
                return self._placeholder(kind, value)

            text = PATTERNS[kind].sub(replace, text)
        return text
