"""Presidio recognizers of the scrubber: Presidio's own pattern recognizers, llm2slm's patterns and secrets.

Every recognizer is gated: a cheap regular expression that any match must contain (an "@" for emails, seven
digits for phones) is tried first, and the recognizer runs only when it is found. Most text of agent traffic has
no personal data, so most recognizers are skipped on most texts.

Importing this module imports Presidio (5-6 s, it imports spaCy): import it only where scrubbing runs, after
`llm2slm.common.env.apply_quiet_offline_defaults()` (`scrub.build_analyzer` does both): Presidio's email and URL
checks use tldextract, which reads TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS when Presidio is imported and would
otherwise fetch the public suffix list instead of using its bundled copy.
"""

from __future__ import annotations

import re
from collections.abc import Callable


def _import_presidio_without_torch() -> None:
    """Import presidio_analyzer with its optional transformers/torch parts left out: they cost most of Presidio's
    import time and the scrubber does not use them. Later imports of transformers and torch work as usual."""
    import sys

    optional = [name for name in ("transformers", "torch") if name not in sys.modules]
    if "presidio_analyzer" in sys.modules or len(optional) < 2:
        import presidio_analyzer  # noqa: F401
        return
    for name in optional:
        sys.modules[name] = None  # type: ignore[assignment]  # makes `import name` fail fast
    try:
        import presidio_analyzer  # noqa: F401
    finally:
        for name in optional:
            del sys.modules[name]


_import_presidio_without_torch()

from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerResult  # noqa: E402
from presidio_analyzer.predefined_recognizers import (  # noqa: E402
    CreditCardRecognizer, EmailRecognizer, IbanRecognizer, IpRecognizer, UrlRecognizer, UsSsnRecognizer)

from llm2slm.curation.patterns import (  # noqa: E402
    ADDRESS_RE, CARD_RE, DOB_RE, PHONE_RE, SECRET_PATTERNS, looks_like_card, looks_like_introduced_address,
    looks_like_phone, looks_like_secret, trim_secret)

# Gates: a text without a match of its entity's gate cannot hold that entity.
GATES: dict[str, re.Pattern[str]] = {
    "EMAIL": re.compile(r"\w@\w"),
    "PHONE": re.compile(r"\d(?:\D{0,3}\d){6}"),
    "CREDIT_CARD": re.compile(r"\d(?:[ -]?\d){11}"),
    "IBAN": re.compile(r"[A-Za-z]{2}\d\d"),
    "IP_ADDRESS": re.compile(r"\d{1,3}\.\d{1,3}\.\d|[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:"),
    "SSN": re.compile(r"\d{3}\D{0,2}\d{2}\D{0,2}\d{4}"),
    "URL": re.compile(r"\w\.[A-Za-z]{2}|://"),
    "DATE_OF_BIRTH": re.compile(r"(?i)born|birth|d\.?o\.?b"),
    "STREET_ADDRESS": re.compile(r"(?i)address|live|reside|located|coming|deliver|ship|send"),
    "NER": re.compile(r"[^\W\d_a-z]|@[^\W_]"),  # an upper-case letter (or another script's letter), or a handle
}


def gated(cls: type, gate: re.Pattern[str]) -> type:
    """A subclass of recognizer `cls` that returns nothing when `gate` does not match the text."""

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None, regex_flags=None):
        if gate.search(text) is None:
            return []
        return cls.analyze(self, text, entities, nlp_artifacts, regex_flags)

    return type(f"Gated{cls.__name__}", (cls,), {"analyze": analyze})


class GroupPatternRecognizer(EntityRecognizer):
    """One entity from one regular expression; the span is the `value` group (else the whole match).

    `accept` may reject a candidate (checksums, lengths); `trim` may shorten it (trailing punctuation).
    """

    def __init__(self, entity: str, pattern: re.Pattern[str], gate: re.Pattern[str], score: float,
                 accept: Callable[[str], bool] | None = None, trim: Callable[[str], str] | None = None,
                 name: str | None = None) -> None:
        self.pattern, self.gate, self.score = pattern, gate, score
        self.accept, self.trim = accept, trim
        super().__init__(supported_entities=[entity], name=name or f"{entity.title()}Recognizer")

    def load(self) -> None:
        return None

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None) -> list[RecognizerResult]:
        if self.gate.search(text) is None:
            return []
        found = []
        for match in self.pattern.finditer(text):
            group = "value" if "value" in self.pattern.groupindex and match.group("value") else 0
            start, end = match.span(group)
            value = text[start:end]
            if self.trim:
                value = self.trim(value)
                end = start + len(value)
            if not value or (self.accept and not self.accept(value)):
                continue
            found.append(RecognizerResult(self.supported_entities[0], start, end, self.score))
        return found


def pattern_recognizers(entities: set[str]) -> list[EntityRecognizer]:
    """The pattern and secret recognizers for the configured entity types."""
    presidio = {
        "EMAIL": (EmailRecognizer, {}),
        "CREDIT_CARD": (CreditCardRecognizer, {}),
        "IBAN": (IbanRecognizer, {}),
        "IP_ADDRESS": (IpRecognizer, {}),
        "SSN": (UsSsnRecognizer, {}),
        "URL": (UrlRecognizer, {}),
    }
    found: list[EntityRecognizer] = []
    for entity, (cls, kwargs) in presidio.items():
        if entity in entities:
            found.append(gated(cls, GATES[entity])(supported_entity=entity, **kwargs))
    if "CREDIT_CARD" in entities:  # cards Presidio's prefixes miss: 12-digit Maestro, 19-digit Visa, 2-series
        found.append(GroupPatternRecognizer("CREDIT_CARD", CARD_RE, GATES["CREDIT_CARD"], 0.8,
                                            accept=looks_like_card, name="LuhnCardRecognizer"))
    if "PHONE" in entities:  # below SSN, IP and card scores: those shapes win an overlap
        found.append(GroupPatternRecognizer("PHONE", PHONE_RE, GATES["PHONE"], 0.4, accept=looks_like_phone))
    if "DATE_OF_BIRTH" in entities:
        found.append(GroupPatternRecognizer("DATE_OF_BIRTH", DOB_RE, GATES["DATE_OF_BIRTH"], 0.8))
    if "STREET_ADDRESS" in entities:  # above the tagger's score: the whole address, not its capitalised words
        found.append(GroupPatternRecognizer("STREET_ADDRESS", ADDRESS_RE, GATES["STREET_ADDRESS"], 0.6,
                                            accept=looks_like_introduced_address))
    for entity, pattern, gate in SECRET_PATTERNS:
        if entity in entities:
            found.append(GroupPatternRecognizer(entity, pattern, gate, 0.9, trim=trim_secret, accept=looks_like_secret,
                                                name=f"{entity.title()}Recognizer{len(found)}"))
    return found


class TaggerRecognizer(EntityRecognizer):
    """Presidio wrapper of the offline tagger (llm2slm/curation/ner.py): PERSON, LOCATION, ORGANIZATION."""

    def __init__(self, tagger, entities: list[str], score: float = 0.35) -> None:
        self.tagger, self.score = tagger, score
        super().__init__(supported_entities=entities, name="HashedTaggerRecognizer")

    def load(self) -> None:
        return None

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None) -> list[RecognizerResult]:
        if GATES["NER"].search(text) is None:
            return []
        return [RecognizerResult(label, start, end, self.score) for start, end, label in self.tagger.spans(text)
                if label in self.supported_entities and label in entities]


class NoContextAnalyzerEngine(AnalyzerEngine):
    """AnalyzerEngine that skips context enhancement: with no NLP model there are no tokens or lemmas to look
    context words up in, so the enhancement cannot change a score, and it costs a fifth of the analysis time."""

    def _enhance_using_context(self, text, raw_results, nlp_artifacts, recognizers, context=None):
        return raw_results
