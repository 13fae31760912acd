"""What the router sees of a call's structure: the role of its last message and that message's instruction template,
and which instruction templates are wordings of one task (families).

The last message is what the model answers: a user turn or a tool's result. Its template (`common.templates`)
is the instruction a framework wrapped around the input, or '' when the message is all input. Two templates are
wordings of one task when their calls are answered with the same schema (`answers.strict_match`: form, JSON keys,
label vocabulary, tools), are sent with the same system prompt and tool offer, end with the same role, and ask about
the same things: at least `CONTENT_OVERLAP` of their clustered calls fall in the same content clusters (the sum over
clusters of the smaller of the two shares), or their templates share at least `LINE_OVERLAP` of their lines (two
wordings around one label list; one wording with a word of it scrubbed as a name). Linked templates form a family; a family is one task's instruction however it is
worded, and different families are different tasks.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from llm2slm.common.schema import CallRecord
from llm2slm.common.templates import INPUT, Templates
from llm2slm.discovery.answers import AnswerSchema, answer_schema, strict_match
from llm2slm.discovery.prompts import jaccard, system_template

CONTENT_OVERLAP = 0.5
LINE_OVERLAP = 0.5
NO_FAMILY = -1


@dataclass(frozen=True)
class RequestShape:
    last_role: str
    instruction: str  # the last message's template ('' when it is all input)


def last_message(record: CallRecord) -> tuple[str, str]:
    """(role, content) of the message the call answers ('user', '' for a call without messages).

    A call whose last messages are tool results answers the turn the user started: an agent calls the LLM when the
    user speaks and again when its tool returns, and both calls belong to one sub-task (choose a tool call or a
    reply). Such a call takes the last user message before its tool results, so that the two calls of one agent
    turn have the same request shape."""
    if not record.messages:
        return "user", ""
    message = record.messages[-1]
    if message.role == "tool":
        user = next((m for m in reversed(record.messages) if m.role == "user"), None)
        if user is not None:
            return user.role, user.content or ""
    return message.role, message.content or ""


def request_shape(record: CallRecord, templates: Templates) -> RequestShape:
    role, text = last_message(record)
    return RequestShape(role, templates.split(role, text).instruction)


@dataclass(frozen=True)
class _Key:
    shape: RequestShape
    rows: np.ndarray
    schema: AnswerSchema
    system: frozenset[str]
    offers_tools: bool
    content: dict[int, float]  # content cluster -> share of the key's clustered calls

    @property
    def lines(self) -> frozenset[str]:
        return frozenset(line for line in self.shape.instruction.split("\n") if line != INPUT)


def _describe_keys(records: list[CallRecord], shapes: list[RequestShape], content: np.ndarray) -> list[_Key]:
    by_shape: dict[RequestShape, list[int]] = {}
    for row, shape in enumerate(shapes):
        if shape.instruction:
            by_shape.setdefault(shape, []).append(row)
    keys = []
    for shape, rows in sorted(by_shape.items(), key=lambda item: (-len(item[1]), item[0].instruction)):
        members = [records[i] for i in rows]
        counts = Counter(int(c) for c in content[rows] if c >= 0)
        clustered = max(sum(counts.values()), 1)
        offers = sum(bool(r.tools) for r in members) * 2 > len(members)
        keys.append(_Key(shape, np.array(rows), answer_schema(members), system_template(members), offers,
                         {c: n / clustered for c, n in counts.items()}))
    return keys


def _overlap(a: dict[int, float], b: dict[int, float]) -> float:
    return sum(min(share, b.get(c, 0.0)) for c, share in a.items())


def _linked(a: _Key, b: _Key, system_threshold: float) -> bool:
    return (a.shape.last_role == b.shape.last_role and a.offers_tools == b.offers_tools
            and (a.system == b.system or jaccard(a.system, b.system) >= system_threshold)
            and strict_match(a.schema, b.schema)
            and (_overlap(a.content, b.content) >= CONTENT_OVERLAP
                 or jaccard(a.lines, b.lines) >= LINE_OVERLAP))


def instruction_families(records: list[CallRecord], shapes: list[RequestShape], content: np.ndarray,
                         system_threshold: float) -> tuple[np.ndarray, dict[int, list[str]]]:
    """(per call its instruction family, -1 when its last message holds no instruction; per family the instruction
    templates it holds, largest first). Families are numbered from 0 by the size of their largest template."""
    keys = _describe_keys(records, shapes, content)
    parent = list(range(len(keys)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, a in enumerate(keys):
        for j in range(i + 1, len(keys)):
            if root(i) != root(j) and _linked(a, keys[j], system_threshold):
                parent[max(root(i), root(j))] = min(root(i), root(j))
    number = {r: n for n, r in enumerate(sorted({root(i) for i in range(len(keys))}))}
    families = np.full(len(records), NO_FAMILY, dtype=np.int64)
    wordings: dict[int, list[str]] = {}
    for i, key in enumerate(keys):
        family = number[root(i)]
        families[key.rows] = family
        wordings.setdefault(family, []).append(key.shape.instruction)
    return families, wordings
