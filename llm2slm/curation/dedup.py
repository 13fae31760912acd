"""Exact and near-duplicate detection over scrubbed calls; the first call of a group is kept (input order).

Exact: a hash of what the model saw and answered (messages, tools, answer; ids and times ignored). Near: calls
sent with the same system prompt and tools whose distinctive text (every non-system message and the answer,
lower-cased, whitespace collapsed) has a Jaccard similarity of character shingles at or above the threshold.
The distinctive text leaves out the template lines of the calls' context (`template_lines`): lines of user and
tool turns that recur in many calls sent with the same system prompt and tools, such as the instruction a
framework puts in the user turn above or below the user's own words. Under a long shared instruction, short
requests would otherwise look alike.
MinHash LSH (datasketch, fixed seed) proposes candidates; the exact Jaccard of the shingle sets decides, so the
result does not depend on hash luck beyond which candidates are looked at.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from llm2slm.common.schema import CallRecord


def content_key(record: CallRecord) -> str:
    """Hash of what the model saw and answered (request messages, tools, response), ignoring ids and times."""
    payload = {
        "messages": [m.model_dump(exclude_none=True) for m in record.messages],
        "tools": [t.model_dump(exclude_none=True) for t in record.tools or []],
        "response": json.loads(record.answer_text()) if record.response.tool_calls else record.answer_text(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def context_key(record: CallRecord) -> str:
    """Calls are compared only with calls sent with the same system prompt and tools."""
    tools = [t.model_dump(exclude_none=True) for t in record.tools or []]
    return hashlib.sha256(json.dumps([record.system_prompt(), tools], sort_keys=True).encode()).hexdigest()


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


FRAMED_ROLES = ("user", "tool")  # the turns a framework wraps in an instruction or a framing; an assistant's own
# earlier turn is what a short answer ("6") must be read against, so it is always compared whole


def template_lines(records: list[CallRecord], min_share: float = 0.05, min_calls: int = 20) -> dict[str, frozenset]:
    """Per context (`context_key`), the lines of user and tool messages found in at least `min_share` of its calls
    and in at least `min_calls` calls: the invariant text of the context, not anyone's input."""
    from collections import Counter, defaultdict

    calls: Counter = Counter()
    seen: dict[str, Counter] = defaultdict(Counter)
    for record in records:
        key = context_key(record)
        calls[key] += 1
        seen[key].update({line for m in record.messages if m.role in FRAMED_ROLES for line in _lines(m.content or "")})
    return {key: frozenset(line for line, n in counts.items() if n >= max(min_calls, min_share * calls[key]))
            for key, counts in seen.items()}


def variable_text(text: str, template: frozenset) -> str:
    """`text` without its template lines; the whole text when nothing else is left."""
    rest = [line for line in _lines(text) if line not in template]
    return "\n".join(rest) if rest else text


def distinctive_text(record: CallRecord, template: frozenset = frozenset()) -> str:
    """What sets a call apart within its context: every non-system message (user and tool turns without their
    template lines), the tool calls made so far and the answer, lower-cased with whitespace collapsed."""
    parts = [variable_text(m.content or "", template) if m.role in FRAMED_ROLES else m.content or ""
             for m in record.messages if m.role not in ("system", "developer")]
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
    templates: dict = field(default_factory=dict)  # context key -> its template lines (`template_lines`)
    _indexes: dict = field(default_factory=dict)  # context key -> MinHashLSH
    _sets: dict = field(default_factory=dict)  # record id -> shingle set
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

        key = context_key(record)
        items = shingles(distinctive_text(record, self.templates.get(key, frozenset())), self.shingle_chars)
        index = self._indexes.get(key)
        if index is None:
            index = self._indexes[key] = MinHashLSH(threshold=self.lsh_threshold(), num_perm=self.permutations)
        minhash = self._minhash(items)
        for candidate in sorted(index.query(minhash)):
            if jaccard(items, self._sets[candidate]) >= self.threshold:
                return True
        index.insert(record.id, minhash)
        self._sets[record.id] = items
        return False
