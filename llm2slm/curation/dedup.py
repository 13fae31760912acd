"""Exact and near-duplicate detection over scrubbed calls; the first call of a group is kept (input order).

Exact: a hash of what the model saw and answered (messages, tools, answer; ids and times ignored). Near: calls
sent with the same framing (system prompt, tools, and the instruction template of the last message) whose
distinctive text (every non-system message and the answer, lower-cased, whitespace collapsed) has a Jaccard
similarity of character shingles at or above the threshold. The distinctive text leaves out the template lines
of user and tool turns (`common.templates`, mined over the calls being curated): the instruction a framework puts
in the user turn above or below the user's own words, a tool's framing of its result. Under a long shared
instruction, short requests would otherwise look alike; so the near-duplicate test compares what the templates
leave, the variable input and the answer.
Calls of one trace are never near-duplicates of each other: a multi-turn agent's later call holds the whole
conversation so far, so it shares most of its text with the call before it, yet it is the next turn (an exact
re-send inside a trace is still an exact duplicate).
MinHash LSH (datasketch, fixed seed) proposes candidates; the exact Jaccard of the shingle sets decides, so the
result does not depend on hash luck beyond which candidates are looked at.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from llm2slm.common.schema import CallRecord
from llm2slm.common.templates import FRAMED_ROLES, Templates, mine_templates, record_messages


def content_key(record: CallRecord) -> str:
    """Hash of what the model saw and answered (request messages, tools, response), ignoring ids and times."""
    payload = {
        "messages": [m.model_dump(exclude_none=True) for m in record.messages],
        "tools": [t.model_dump(exclude_none=True) for t in record.tools or []],
        "response": json.loads(record.answer_text()) if record.response.tool_calls else record.answer_text(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def context_key(record: CallRecord, templates: Templates = Templates()) -> str:
    """Calls are compared only with calls sent with the same system prompt, tools and instruction template."""
    tools = [t.model_dump(exclude_none=True) for t in record.tools or []]
    last = record.messages[-1] if record.messages else None
    instruction = templates.split(last.role, last.content or "").instruction if last is not None else ""
    payload = [record.system_prompt(), tools, instruction]
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def mined_templates(records: list[CallRecord]) -> Templates:
    """The template lines of the calls' user and tool turns (`common.templates.mine_templates`)."""
    return mine_templates(record_messages(records))


def distinctive_text(record: CallRecord, templates: Templates = Templates()) -> str:
    """What sets a call apart within its context: every non-system message (user and tool turns without their
    template lines), the tool calls made so far and the answer, lower-cased with whitespace collapsed."""
    parts = []
    for message in record.messages:
        if message.role in ("system", "developer"):
            continue
        text = message.content or ""
        if message.role in FRAMED_ROLES and templates.lines:
            text = templates.split(message.role, text).variable or text
        parts.append(text)
    parts += [c.function.name + " " + c.function.arguments for m in record.messages for c in m.tool_calls or []]
    parts.append(record.answer_text())
    return " ".join(" ".join(parts).lower().split())


def shingles(text: str, size: int) -> set[str]:
    if len(text) <= size:
        return {text}
    return {text[i:i + size] for i in range(len(text) - size + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


@dataclass
class NearDuplicates:
    """Streaming near-duplicate finder: `is_duplicate(record)` answers and, when not, remembers the record."""

    threshold: float = 0.9  # Jaccard similarity, 0-1
    shingle_chars: int = 5
    permutations: int = 128
    seed: int = 13
    templates: Templates = field(default_factory=Templates)  # the template lines of user and tool turns
    _indexes: dict = field(default_factory=dict)  # context key -> MinHashLSH
    _sets: dict = field(default_factory=dict)  # record id -> shingle set
    _traces: dict = field(default_factory=dict)  # record id -> trace id (None when the caller sent none)
    _base: object = None

    def _minhash(self, items: set[str]):
        from datasketch import MinHash

        if self._base is None:
            self._base = MinHash(num_perm=self.permutations, seed=self.seed)
        minhash = self._base.copy()
        minhash.update_batch([s.encode() for s in sorted(items)])
        return minhash

    def lsh_threshold(self) -> float:
        """LSH looks for candidates below the threshold (fewer misses); the exact Jaccard then decides."""
        return min(max(self.threshold - 0.15, 0.3), 0.9)

    def is_duplicate(self, record: CallRecord) -> bool:
        from datasketch import MinHashLSH

        key = context_key(record, self.templates)
        items = shingles(distinctive_text(record, self.templates), self.shingle_chars)
        index = self._indexes.get(key)
        if index is None:
            index = self._indexes[key] = MinHashLSH(threshold=self.lsh_threshold(), num_perm=self.permutations)
        minhash = self._minhash(items)
        trace = record.trace_id
        for candidate in sorted(index.query(minhash)):
            if trace is not None and self._traces[candidate] == trace:
                continue  # a later turn of the same conversation repeats its history: not a duplicate
            if jaccard(items, self._sets[candidate]) >= self.threshold:
                return True
        index.insert(record.id, minhash)
        self._sets[record.id] = items
        self._traces[record.id] = trace
        return False
