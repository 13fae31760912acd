"""Tasks are not topics: merge content clusters that share the shape of their calls.

Within one agent's sub-task every call has the same system-prompt template, the same kind of tool offer and the
same form of answer; only the content varies, and HDBSCAN at a fine granularity splits that content into topics.
Each cluster gets a structural signature: the template words (words found in at least half of its members'
system prompts, so names or dates filled into a template drop out), whether its calls offer tools, and the form
of most of its answers (tool call, JSON object, text). Clusters whose templates overlap (Jaccard similarity of
the template words at or above a threshold) and whose tool offer and answer form agree are one task. Clusters
without a system prompt are never merged: their structure, if any, is in the user's text, and content decides.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from dataclasses import dataclass
from typing import Literal

import numpy as np

from llm2slm.common.schema import CallRecord

log = logging.getLogger("llm2slm.cluster")

AnswerKind = Literal["tool_call", "json", "text"]
TEMPLATE_CHARS = 1000
_WORD = re.compile(r"[a-z][a-z_]+")


@dataclass(frozen=True)
class Signature:
    template: frozenset[str]
    offers_tools: bool
    answer_kind: AnswerKind


def prompt_words(prompt: str, chars: int = TEMPLATE_CHARS) -> frozenset[str]:
    return frozenset(_WORD.findall(prompt[:chars].lower()))


def answer_kind(record: CallRecord) -> AnswerKind:
    if record.response.tool_calls:
        return "tool_call"
    text = (record.response.content or "").strip()
    if text.startswith("{"):
        try:
            if isinstance(json.loads(text), dict):
                return "json"
        except json.JSONDecodeError:
            pass
    return "text"


def signature(records: list[CallRecord], share: float = 0.5) -> Signature:
    """The structural signature of a group of calls (see the module's docstring)."""
    words: Counter[str] = Counter()
    cache: dict[str, frozenset[str]] = {}
    for record in records:
        prompt = record.system_prompt()
        if prompt not in cache:
            cache[prompt] = prompt_words(prompt)
        words.update(cache[prompt])
    template = frozenset(w for w, n in words.items() if n >= share * len(records))
    offers = sum(bool(r.tools) for r in records) * 2 > len(records)
    kind = Counter(answer_kind(r) for r in records).most_common(1)[0][0]
    return Signature(template=template, offers_tools=offers, answer_kind=kind)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def same_structure(a: Signature, b: Signature, threshold: float) -> bool:
    if not a.template or not b.template:
        return False
    return (a.offers_tools == b.offers_tools and a.answer_kind == b.answer_kind
            and jaccard(a.template, b.template) >= threshold)


def _root(parent: dict[int, int], label: int) -> int:
    while parent[label] != label:
        parent[label] = parent[parent[label]]
        label = parent[label]
    return label


def merge_by_structure(labels: np.ndarray, records: list[CallRecord], threshold: float = 0.8) -> np.ndarray:
    """New labels where clusters of one structure share the smallest of their labels; -1 stays -1."""
    clusters = sorted(int(c) for c in np.unique(labels[labels >= 0]))
    signatures = {c: signature([records[i] for i in np.flatnonzero(labels == c)]) for c in clusters}
    parent = {c: c for c in clusters}
    for i, a in enumerate(clusters):
        for b in clusters[i + 1:]:
            if same_structure(signatures[a], signatures[b], threshold):
                ra, rb = _root(parent, a), _root(parent, b)
                parent[max(ra, rb)] = min(ra, rb)
    mapping = {c: _root(parent, c) for c in clusters}
    merged = np.array([mapping.get(int(label), -1) for label in labels], dtype=np.int64)
    n_after = len(set(mapping.values()))
    log.info("structure: %d content clusters -> %d tasks (same system-prompt template, tool offer and answer form)",
             len(clusters), n_after)
    return merged


def _candidates(record: CallRecord, words: frozenset[str], signatures: dict[int, Signature],
                threshold: float) -> list[int]:
    offers = bool(record.tools)
    found = [label for label, sig in signatures.items()
             if sig.template and sig.offers_tools == offers and jaccard(words, sig.template) >= threshold]
    if len(found) > 1:
        kind = answer_kind(record)
        found = [label for label in found if signatures[label].answer_kind == kind]
    return found


def rescue_by_structure(labels: np.ndarray, records: list[CallRecord], threshold: float = 0.8) -> np.ndarray:
    """Outliers whose call has the structure of exactly one task join it; returns new labels."""
    labels = labels.copy()
    outliers = np.flatnonzero(labels < 0)
    if len(outliers) == 0 or not np.any(labels >= 0):
        return labels
    tasks = sorted(int(c) for c in np.unique(labels[labels >= 0]))
    signatures = {c: signature([records[i] for i in np.flatnonzero(labels == c)]) for c in tasks}
    cache: dict[str, frozenset[str]] = {}
    rescued = 0
    for i in outliers:
        prompt = records[i].system_prompt()
        if not prompt.strip():
            continue
        if prompt not in cache:
            cache[prompt] = prompt_words(prompt)
        found = _candidates(records[i], cache[prompt], signatures, threshold)
        if len(found) == 1:
            labels[i] = found[0]
            rescued += 1
    log.info("structure: %d of %d outliers share the structure of exactly one task and join it; %d stay outliers",
             rescued, len(outliers), len(outliers) - rescued)
    return labels
