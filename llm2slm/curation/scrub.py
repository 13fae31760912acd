"""Pattern scrubber for emails, phone numbers and payment card numbers.

Each value found is replaced by a typed placeholder numbered per call (`<EMAIL_1>`, `<PHONE_2>`): the same value
gets the same placeholder everywhere in one call, so the model still sees that two mentions are the same thing.
Card numbers must pass the Luhn checksum; phone numbers need 7 to 15 digits, in groups unless
they have a country prefix or 9 digits or more, and are never dates. Placeholders contain no quotes or
backslashes, so scrubbing inside a JSON-encoded tool-call argument string keeps it valid JSON.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

EMAIL_RE = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
CARD_RE = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
PHONE_RE = re.compile(
    r"(?<![\w+.,/-])(?:\+\d{1,3}[\s.-]?)?(?:\(0\)[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?)?\d{2,12}(?:[\s.-]\d{2,8}){0,4}"
    r"(?:\s?(?:x|ext\.?)\s?\d{1,5})?(?![\w]|[.,-]\d)"
)
DATE_RE = re.compile(
    r"^\d{4}[-./]\d{1,2}[-./]\d{1,2}$|^\d{1,2}[-./]\d{1,2}[-./]\d{2,4}$"  # dates
    r"|^(?:19|20)\d\d[-/](?:19|20)\d\d$"  # year ranges: 2019-2020
    r"|^\d+\.\d+$"  # decimals: 33.4484
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
        return _looks_like_phone(text)
    return True


def _looks_like_phone(text: str) -> bool:
    """7 to 15 digits; one unbroken run only with a + prefix or 9+ digits; never a date."""
    main = re.split(r"\s?(?:x|ext\.?)\s?", text)[0]  # an extension does not count towards the length
    digits = re.sub(r"\D", "", main)
    if not 7 <= len(digits) <= 15 or DATE_RE.match(main.strip()):
        return False
    grouped = bool(re.search(r"\d[\s.()-]+\d", main))
    return main.startswith("+") or grouped or len(digits) >= 9


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
