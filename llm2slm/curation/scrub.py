"""The scrubber: Presidio's AnalyzerEngine with llm2slm's recognizers, and the operators, over every field of a call.

`Scrubber` holds the analyzer (built once: Presidio's pattern recognizers, llm2slm's phone, date-of-birth and
secret patterns, and the offline tagger for names, places and organisations; no spaCy model), the surrogate
generator and a bounded cache of analysis results by text, since system prompts and many answers repeat across
calls. It looks only for the types of `curate.policy`. `Scrubber.call()` gives a `CallScrubber` that scrubs one
call: message contents (system, developer, user, assistant, tool results), the arguments of tool calls in the
history and in the response, and the response; tool specifications are read (for the agent's configuration) but
not changed. A text that is a JSON object or array (tool arguments, most tool results) is scrubbed value by value,
each value analysed with its key in front of it for context ("password: hunter2"); the JSON is re-encoded only
when a value changed, so it stays valid. A place the tagger finds with an address's shape in it (a house number
beside a street word, "742 Evergreen Terrace"; a postcode) is a `STREET_ADDRESS` when the policy names that
type; "25 degrees" stays what it is.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from llm2slm.common.config import CurateConfig
from llm2slm.common.env import apply_quiet_offline_defaults
from llm2slm.curation.anonymize import (CallOperators, Found, anonymize, config_key, hash_salt, resolve_overlaps,
                                        surrogate_key)
from llm2slm.curation.patterns import looks_like_address, looks_like_link
from llm2slm.curation.persons import NAME, email_name_parts, label_names, named_by_key
from llm2slm.curation.surrogates import Surrogates
from llm2slm.common.schema import CallRecord, Message

NER_ENTITIES = ("PERSON", "LOCATION", "ORGANIZATION")
ADDRESS = "STREET_ADDRESS"  # a LOCATION span with a digit (house number, postcode)
WORDED = (*NER_ENTITIES, NAME, ADDRESS)  # types handled word by word
CONFIG_ROLES = ("system", "developer")  # messages that configure the agent
CACHE_LIMIT = 100_000  # analysed texts kept; the cache is emptied when full
WORD_RE = re.compile(r"\w+(?:['’.-]\w+)*")  # one word of a name, place or organisation ("O'Neil", "Jean-Luc")
KNOWN_SCORE = 0.5  # score of a value found elsewhere in the call (below a pattern match, above a weak guess)
KEY_SCORE = 0.6  # a JSON value under a key that names a person ("first_name"): above the tagger's guesses


def detected_types(policy: dict[str, str]) -> set[str]:
    """The recognizer types that serve `policy`: its types, with street addresses found by their context and by
    the LOCATION tagger, and other names by the PERSON tagger."""
    types = set(policy) - {NAME}
    types |= {"LOCATION"} if ADDRESS in policy else set()
    return types | {"PERSON"} if NAME in policy else types


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
        self.cfg = cfg or CurateConfig()
        self.policy = dict(self.cfg.policy)
        self.entities = detected_types(self.policy)
        self.salt = hash_salt(self.cfg)
        key = surrogate_key(self.cfg)
        self.surrogates = Surrogates(key) if key is not None else None
        self.analyzer = build_analyzer(self.entities, Path(self.cfg.ner_model) if self.cfg.ner_model else None)
        self.artifacts = self.analyzer.nlp_engine.process_text("", "en")  # empty: no NLP model runs
        self.cache: dict[str, list[Found]] | None = {} if cache else None

    def analyze(self, text: str) -> list[Found]:
        """Non-overlapping (start, end, entity, score) of everything found in `text`; a name is `PERSON` when its
        context marks a private person's, else `NAME` (llm2slm/curation/persons.py)."""
        if self.cache is not None and text in self.cache:
            return self.cache[text]
        results = self.analyzer.analyze(text=text, language="en", score_threshold=self.cfg.min_score,
                                        nlp_artifacts=self.artifacts)
        kept = [(r.start, r.end, r.entity_type, r.score) for r in results
                if r.entity_type != "URL" or looks_like_link(text, r.start, r.end)]
        found = label_names(text, resolve_overlaps(kept))
        if self.cache is not None:
            if len(self.cache) >= CACHE_LIMIT:
                self.cache.clear()
            self.cache[text] = found
        return found

    def call(self) -> "CallScrubber":
        return CallScrubber(self, CallOperators(self.policy, self.salt, self.surrogates))


class CallScrubber:
    """Scrubs the fields of one call with one action state (consistent replacements inside the call).

    A call is read twice. The first pass only analyses every field and the tool specifications, and learns what
    the call holds: each value found, each word of a name, place, organisation or street address on its own, and
    which of them the system/developer messages and tool specifications hold (the agent's configuration, kept).
    The second pass handles, in every field, what was found there plus every other occurrence of a value learnt
    anywhere in the call. So a value the analyzer finds in one field is removed from all of them, and a name keeps
    one replacement per word ("Ada Lovelace" -> "<PERSON_1> <PERSON_2>", a `first_name` field "Ada" ->
    "<PERSON_1>"): an extraction task's answers stay copies of its request.
    """

    def __init__(self, scrubber: Scrubber, state: CallOperators) -> None:
        self.scrubber, self.state = scrubber, state
        self.known: dict[str, str] = {}  # value -> entity type, learnt from the whole call
        self.pattern: re.Pattern[str] | None = None
        self.learning = False
        self.configuring = False  # learning from a system/developer message or a tool specification
        self.config_types = set(scrubber.cfg.agent_config_types)
        self.email_words: set[str] = set()  # words of the local parts of the call's email addresses

    @property
    def counts(self) -> Counter:
        """(entity type, field) -> values replaced."""
        return self.state.counts

    @property
    def actions(self) -> Counter:
        """(action, entity type) -> values found, kept ones included (`agent_config`: the agent's configuration)."""
        return self.state.actions

    def _words(self, text: str, found: list[Found]) -> list[Found]:
        """`found` with names, places and addresses split into words; a place shaped like an address is a street address
        when the policy names that type; a type the policy does not name is left out."""
        policy = self.scrubber.policy
        words: list[Found] = []
        for start, end, entity, score in found:
            if entity == "LOCATION" and ADDRESS in policy and looks_like_address(text[start:end]):
                entity = ADDRESS
            if entity not in policy:
                continue
            if entity in WORDED:
                words += [(start + m.start(), start + m.end(), entity, score)
                          for m in WORD_RE.finditer(text[start:end])]
            else:
                words.append((start, end, entity, score))
        return words

    def _learn(self, text: str, words: list[Found]) -> None:
        """Learns each value's type (one the policy replaces wins over one it keeps: a name the tagger takes for
        a place in one sentence and for a person in another is a person) and the agent's configuration."""
        policy = self.scrubber.policy
        for start, end, entity, _ in words:
            value = text[start:end]
            previous = self.known.get(value)
            if previous is None or (policy[previous] == "keep" and policy[entity] != "keep"):
                self.known[value] = entity
            self.state.originals.add(value)
            if entity == "EMAIL":
                self.email_words |= email_name_parts(value)
            if self.configuring and entity in self.config_types:
                self.state.config.add(config_key(value))

    def _found(self, text: str, found: list[Found]) -> list[Found]:
        """`found` as words (`_words`), and every occurrence of a value learnt in this call added."""
        words = self._words(text, found)
        if self.learning:
            self._learn(text, words)
            return []
        words = [(s, e, self.known.get(text[s:e], t), p) for s, e, t, p in words]  # the call's decision
        extra = [(m.start(), m.end(), self.known[m.group(0)], KNOWN_SCORE)
                 for m in self.pattern.finditer(text)] if self.pattern else []
        return resolve_overlaps(words + extra)

    def _owners(self) -> None:
        """A name that one of the call's email addresses holds is a private person's in the whole call."""
        if "PERSON" not in self.scrubber.policy:
            return
        for value, entity in self.known.items():
            if entity == NAME and value.lower() in self.email_words:
                self.known[value] = "PERSON"

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
        return text if self.learning else anonymize(text, found, self.state, where)

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
        if "PERSON" in self.scrubber.policy and named_by_key(key, value):  # the key says it is a name
            start = len(value) - len(value.lstrip())
            found = resolve_overlaps(found + [(start, len(value.rstrip()), "PERSON", KEY_SCORE)])
        found = self._found(value, found)
        if self.learning:
            return value
        clean = anonymize(value, found, self.state, where)
        changed[0] = changed[0] or clean != value
        return clean

    def message(self, message: Message, where: str) -> None:
        message.content = self.field(message.content, where)
        for call in message.tool_calls or []:
            call.function.arguments = self.field(call.function.arguments, f"{where}.tool_arguments") or ""

    def _fields(self, record: CallRecord) -> None:
        for message in record.messages:
            self.configuring = self.learning and message.role in CONFIG_ROLES
            self.message(message, f"messages.{message.role}")
        self.configuring = False
        self.message(record.response, "response")

    def _learn_tools(self, record: CallRecord) -> None:
        """Learns the values of the tool specifications (names, descriptions, schemas) as agent configuration."""
        self.configuring = True
        for tool in record.tools or []:
            self._walk(tool.model_dump(mode="json", exclude_none=True), "", "tools", [False])
        self.configuring = False

    def record(self, record: CallRecord) -> CallRecord:
        """A copy of the record with every text field scrubbed."""
        self.learning = True
        self._learn_tools(record)
        self._fields(record)  # learns; changes nothing
        self._owners()
        self.learning, self.pattern = False, self._known_pattern()
        data = record.model_copy(deep=True)
        self._fields(data)
        return data
