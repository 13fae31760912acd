"""The schema of a group's answers: what the calls are answered with, compared between groups.

- tool calls: the names of the tools called (a call that offers tools may also be answered in text, "no tool
  fits": such a text answer belongs to the tool-calling form, not to another task);
- JSON objects: the keys found in at least `KEY_SHARE` of the objects (an empty object fits any key set);
- text: a closed label vocabulary when few distinct answers repeat, else free text with its median length
  (words).

Tool names are kept for the record but not compared: one tool-using task calls a different few of its tools in
each call, so two groups of one task may share none.

`coarse` schemas (form and JSON keys only) decide whether two content clusters can be one task: clusters of one
task cover different parts of its label set or tool set, so only the form and the keys must agree. `strict`
comparison (labels overlap too) decides whether two instruction templates are wordings of one task,
since each template's calls show the whole vocabulary.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from statistics import median
from typing import Literal

from llm2slm.common.schema import CallRecord

Form = Literal["tools", "json", "label", "text"]
KEY_SHARE = 0.05  # a JSON key belongs to the schema when this share of the objects holds it
LABEL_MAX_DISTINCT_SHARE = 0.2  # text answers are labels when distinct answers are at most this share of them
LABEL_MAX_WORDS = 8
OVERLAP = 0.3  # strict: label vocabularies or tool names share at least this Jaccard similarity
LENGTH_RATIO = 4.0  # free text: median lengths within this factor


def json_keys(text: str) -> frozenset[str] | None:
    """The keys of a JSON object answer, or None when the answer is not one."""
    text = text.strip()
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return frozenset(value) if isinstance(value, dict) else None


def call_form(record: CallRecord) -> tuple[str, frozenset[str]]:
    """One call's answer: ("tools", tool names), ("json", keys) or ("text", {})."""
    if record.response.tool_calls:
        return "tools", frozenset(c.function.name for c in record.response.tool_calls)
    keys = json_keys(record.response.content or "")
    if keys is not None:
        return "json", keys
    return "text", frozenset()


@dataclass(frozen=True)
class AnswerSchema:
    form: Form
    keys: frozenset[str] = frozenset()  # json: frequent keys; tools: the tools called
    labels: frozenset[str] = frozenset()  # label: the vocabulary; json: values of a single closed key
    words: int = 0  # text: median answer length, words

    def describe(self) -> str:
        if self.form == "tools":
            return f"tool calls ({len(self.keys)} tools)"
        if self.form == "json":
            return "JSON {" + ", ".join(sorted(self.keys)) + "}"
        if self.form == "label":
            return f"labels ({len(self.labels)})"
        return f"text (~{self.words} words)"


def answer_schema(records: list[CallRecord]) -> AnswerSchema:
    """The schema of most of the group's answers (see the module's docstring)."""
    if not records:
        return AnswerSchema("text")
    forms = [call_form(r) for r in records]
    offers = sum(bool(r.tools) for r in records) * 2 > len(records)
    kinds = Counter("tools" if offers and kind == "text" else kind for kind, _ in forms)
    kind = kinds.most_common(1)[0][0]
    if kind == "tools":
        return AnswerSchema("tools", keys=frozenset(k for f, keys in forms if f == "tools" for k in keys))
    if kind == "json":
        objects = [keys for f, keys in forms if f == "json"]
        counts = Counter(k for keys in objects for k in keys)
        keys = frozenset(k for k, n in counts.items() if n >= KEY_SHARE * len(objects))
        labels: frozenset[str] = frozenset()
        if len(keys) == 1:
            values = [r.response.content or "" for r, (f, _) in zip(records, forms, strict=True) if f == "json"]
            if len(set(values)) <= LABEL_MAX_DISTINCT_SHARE * len(values):
                labels = frozenset(values)
        return AnswerSchema("json", keys=keys, labels=labels)
    texts = [(r.response.content or "").strip() for r, (f, _) in zip(records, forms, strict=True) if f == "text"]
    words = int(median(len(t.split()) for t in texts)) if texts else 0
    if len(set(texts)) <= LABEL_MAX_DISTINCT_SHARE * len(texts) and words <= LABEL_MAX_WORDS:
        return AnswerSchema("label", labels=frozenset(texts), words=words)
    return AnswerSchema("text", words=words)


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def coarse_match(a: AnswerSchema, b: AnswerSchema) -> bool:
    """Same form (a label set and text count as one form: a small group of label answers may not repeat enough to
    look like labels); JSON key sets that overlap (or one empty); text of comparable length."""
    textual = ("label", "text")
    if a.form != b.form and not (a.form in textual and b.form in textual):
        return False
    if a.form == "json":
        return not a.keys or not b.keys or bool(a.keys & b.keys)
    if a.form in textual:
        return max(a.words, b.words) <= LENGTH_RATIO * max(min(a.words, b.words), 1)
    return True


def strict_match(a: AnswerSchema, b: AnswerSchema) -> bool:
    """`coarse_match`, JSON key sets that mostly agree, and label vocabularies (or the values of a closed JSON key)
    that overlap. Tool names are not compared: one tool-using task calls a different few of its tools each time."""
    if not coarse_match(a, b):
        return False
    if a.form == "json" and a.keys and b.keys and _jaccard(a.keys, b.keys) < 0.5:
        return False
    if a.labels and b.labels and _jaccard(a.labels, b.labels) < OVERLAP:
        return False
    return True


def schema_groups(records: list[CallRecord]) -> list[int]:
    """Per call, which answer schema of the group it has: 0 for the group's main form, others numbered by size.

    Forms are tools (with text answers when tools are offered), JSON, text; JSON objects whose keys overlap are one
    schema (keys that occur together join), and an empty object joins the largest JSON schema."""
    forms = [call_form(r) for r in records]
    offers = sum(bool(r.tools) for r in records) * 2 > len(records)
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        while parent.setdefault(key, key) != key:
            key = parent[key]
        return key

    for kind, keys in forms:
        if kind == "json" and keys:
            first, *rest = sorted(keys)
            for other in rest:
                ra, rb = root(first), root(other)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
    names = []
    for kind, keys in forms:
        if kind == "json":
            names.append("json:" + root(min(keys)) if keys else "json:")
        else:
            names.append("tools" if kind == "tools" or offers else kind)
    json_sizes = Counter(n for n in names if n.startswith("json:") and n != "json:")
    if json_sizes:
        largest = json_sizes.most_common(1)[0][0]
        names = [largest if n == "json:" else n for n in names]
    order = [n for n, _ in Counter(names).most_common()]
    return [order.index(n) for n in names]
