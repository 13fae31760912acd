"""The scrubber: Presidio's AnalyzerEngine with llm2slm's recognizers, and the operators, over every field of a call.

`Scrubber` holds the analyzer (built once: Presidio's pattern recognizers, llm2slm's phone, date-of-birth and
secret patterns, and the offline tagger for names, places and organisations; no spaCy model) and a bounded cache of
analysis results by text, since system prompts and many answers repeat across calls. `Scrubber.call()` gives a
`CallScrubber` that scrubs one call: message contents (system, user, assistant, tool results), the arguments of
tool calls in the history and in the response, and the response. A text that is a JSON object or array (tool
arguments, most tool results) is scrubbed value by value, each value analysed with its key in front of it for
context ("password: hunter2"); the JSON is re-encoded only when a value changed, so it stays valid.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from llm2slm.common.config import CurateConfig
from llm2slm.common.env import apply_quiet_offline_defaults
from llm2slm.curation.anonymize import CallOperators, Found, anonymize, hash_salt, resolve_overlaps
from llm2slm.common.schema import CallRecord, Message

NER_ENTITIES = ("PERSON", "LOCATION", "ORGANIZATION")
CACHE_LIMIT = 100_000  # analysed texts kept; the cache is emptied when full
WORD_RE = re.compile(r"\w+(?:['’.-]\w+)*")  # one word of a name, place or organisation ("O'Neil", "Jean-Luc")
KNOWN_SCORE = 0.5  # score of a value found elsewhere in the call (below a pattern match, above a weak guess)


def build_analyzer(entities: set[str], ner_model: Path | None):
    """Presidio AnalyzerEngine with no NLP engine model: only the recognizers of `entities`."""
    apply_quiet_offline_defaults()  # before Presidio is imported: tldextract keeps to its bundled suffix list
    from llm2slm.curation.recognizers import NoContextAnalyzerEngine, TaggerRecognizer, pattern_recognizers

    from presidio_analyzer import RecognizerRegistry
    from presidio_analyzer.nlp_engine import NoOpNlpEngine

    from llm2slm.curation.ner import DEFAULT_MODEL, HashedTagger

    nlp_engine = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
    nlp_engine.load()
    recognizers = pattern_recognizers(entities)
    ner = sorted(entities & set(NER_ENTITIES))
    if ner:
        recognizers.append(TaggerRecognizer(HashedTagger.load(ner_model or DEFAULT_MODEL), ner))
    registry = RecognizerRegistry(recognizers=recognizers, supported_languages=["en"])
    return NoContextAnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"])


class Scrubber:
    """Finds personal data and secrets in text; shared by all calls of a snapshot."""

    def __init__(self, cfg: CurateConfig | None = None, cache: bool = True) -> None:
        apply_quiet_offline_defaults()  # before Presidio is imported (see build_analyzer)
        from presidio_anonymizer import AnonymizerEngine

        self.cfg = cfg or CurateConfig()
        self.entities = set(self.cfg.scrub)
        self.salt = hash_salt(self.cfg.operator, self.cfg.hash_salt_env)
        self.analyzer = build_analyzer(self.entities, Path(self.cfg.ner_model) if self.cfg.ner_model else None)
        self.anonymizer = AnonymizerEngine()
        self.artifacts = self.analyzer.nlp_engine.process_text("", "en")  # empty: no NLP model runs
        self.cache: dict[str, list[Found]] | None = {} if cache else None

    def analyze(self, text: str) -> list[Found]:
        """Non-overlapping (start, end, entity, score) of everything found in `text`."""
        if self.cache is not None and text in self.cache:
            return self.cache[text]
        results = self.analyzer.analyze(text=text, language="en", score_threshold=self.cfg.min_score,
                                        nlp_artifacts=self.artifacts)
        found = resolve_overlaps([(r.start, r.end, r.entity_type, r.score) for r in results])
        if self.cache is not None:
            if len(self.cache) >= CACHE_LIMIT:
                self.cache.clear()
            self.cache[text] = found
        return found

    def call(self) -> "CallScrubber":
        return CallScrubber(self, CallOperators(self.cfg.operator, self.salt))


class CallScrubber:
    """Scrubs the fields of one call with one operator state (consistent placeholders inside the call).

    A call is read twice. The first pass only analyses every field and learns what the call holds: each value
    found, and each word of a name, place or organisation on its own. The second pass replaces, in every field,
    what was found there plus every other occurrence of a value learnt anywhere in the call. So a value the
    analyzer finds in one field is removed from all of them, and a name keeps one placeholder per word
    ("Ada Lovelace" -> "<PERSON_1> <PERSON_2>", a `first_name` field "Ada" -> "<PERSON_1>"): an extraction
    task's answers stay copies of its request.
    """

    def __init__(self, scrubber: Scrubber, state: CallOperators) -> None:
        self.scrubber, self.state = scrubber, state
        self.known: dict[str, str] = {}  # value -> entity type, learnt from the whole call
        self.pattern: re.Pattern[str] | None = None
        self.learning = False

    @property
    def counts(self) -> Counter:
        """(entity type, field) -> values replaced."""
        return self.state.counts

    def _found(self, text: str, found: list[Found]) -> list[Found]:
        """`found` with names split into words, and every occurrence of a value learnt in this call added."""
        words: list[Found] = []
        for start, end, entity, score in found:
            if entity in NER_ENTITIES:
                words += [(start + m.start(), start + m.end(), entity, score)
                          for m in WORD_RE.finditer(text[start:end])]
            else:
                words.append((start, end, entity, score))
        if self.learning:
            for start, end, entity, _ in words:
                self.known.setdefault(text[start:end], entity)
            return []
        extra = [(m.start(), m.end(), self.known[m.group(0)], KNOWN_SCORE)
                 for m in self.pattern.finditer(text)] if self.pattern else []
        return resolve_overlaps(words + extra)

    def _known_pattern(self) -> re.Pattern[str] | None:
        """One pattern for every value learnt in the call, longest first, matched as whole words."""
        if not self.known:
            return None
        values = sorted(self.known, key=len, reverse=True)
        return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(v) for v in values) + r")(?!\w)")

    def text(self, text: str | None, where: str) -> str | None:
        if not text or not text.strip():
            return text
        found = self._found(text, self.scrubber.analyze(text))
        return text if self.learning else anonymize(text, found, self.state, where, self.scrubber.anonymizer)

    def field(self, text: str | None, where: str) -> str | None:
        """A JSON object/array value by value, anything else as text."""
        if not text or text.lstrip()[:1] not in "{[":
            return self.text(text, where)
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return self.text(text, where)
        changed = [False]
        clean = self._walk(data, "", where, changed)
        return json.dumps(clean, ensure_ascii=text.isascii()) if changed[0] else text

    def _walk(self, value: Any, key: str, where: str, changed: list[bool]) -> Any:
        if isinstance(value, dict):
            return {k: self._walk(v, str(k), where, changed) for k, v in value.items()}
        if isinstance(value, list):
            return [self._walk(v, key, where, changed) for v in value]
        if not isinstance(value, str) or not value.strip():
            return value
        prefix = f"{key}: " if key else ""
        found = [(s - len(prefix), e - len(prefix), t, p) for s, e, t, p in self.scrubber.analyze(prefix + value)
                 if s >= len(prefix)]
        found = self._found(value, found)
        if self.learning:
            return value
        clean = anonymize(value, found, self.state, where, self.scrubber.anonymizer)
        changed[0] = changed[0] or clean != value
        return clean

    def message(self, message: Message, where: str) -> None:
        message.content = self.field(message.content, where)
        for call in message.tool_calls or []:
            call.function.arguments = self.field(call.function.arguments, f"{where}.tool_arguments") or ""

    def _fields(self, record: CallRecord) -> None:
        for message in record.messages:
            self.message(message, f"messages.{message.role}")
        self.message(record.response, "response")

    def record(self, record: CallRecord) -> CallRecord:
        """A copy of the record with every text field scrubbed."""
        self.learning = True
        self._fields(record)  # learns; changes nothing
        self.learning, self.pattern = False, self._known_pattern()
        data = record.model_copy(deep=True)
        self._fields(data)
        return data
