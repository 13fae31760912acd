"""Tasks are not topics: content clusters are cut and joined by the structure of their calls.

Within one agent's sub-task every call has the same request structure (system-prompt template, tool offer, the
role of the last message, the family of its instruction template, see `requests`) and the same answer schema
(`answers`); only the content varies, and HDBSCAN at a fine granularity splits that content into topics, or, when
several sub-tasks share one system prompt and their inputs look alike, puts calls of two sub-tasks in one topic.

1. `split_by_structure`: a content cluster is cut by instruction family, tool offer and last role, and by answer
   schema where a second
   schema holds at least `min_size` calls and `SCHEMA_SPLIT_SHARE` of the cluster.
2. `merge_by_structure`: pieces with one structure are one task: the same instruction family and a matching
   coarse schema; or, without instruction, system-prompt templates of Jaccard similarity at or above the
   threshold, the same tool offer, last role and coarse schema. Pieces without a system prompt or instruction are
   never merged: content decides.
3. `rescue_by_structure`: an outlier whose call has the structure of exactly one task joins it.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

import numpy as np

from llm2slm.common.schema import CallRecord
from llm2slm.discovery.answers import AnswerSchema, answer_schema, call_form, coarse_match, schema_groups
from llm2slm.discovery.prompts import jaccard, prompt_words, system_template
from llm2slm.common.templates import Templates, mine_templates, record_messages
from llm2slm.discovery.requests import NO_FAMILY, RequestShape, instruction_families, request_shape

log = logging.getLogger("llm2slm.cluster")

SCHEMA_SPLIT_SHARE = 0.1


@dataclass(frozen=True)
class CallShapes:
    """The calls with, per call, its request shape and instruction family (rows in the same order)."""

    records: list[CallRecord]
    shapes: list[RequestShape]
    families: np.ndarray

    @classmethod
    def of(cls, records: list[CallRecord], templates: Templates | None = None,
           content: np.ndarray | None = None, threshold: float = 0.8) -> "CallShapes":
        """The calls read against `templates` (mined from them when None), with instruction families found over
        the content clusters `content` (one cluster when None)."""
        templates = mine_templates(record_messages(records)) if templates is None else templates
        shapes = [request_shape(r, templates) for r in records]
        content = np.zeros(len(records), dtype=np.int64) if content is None else content
        families, _ = instruction_families(records, shapes, content, threshold)
        return cls(records, shapes, families)


@dataclass(frozen=True)
class Signature:
    template: frozenset[str]  # system-prompt words
    offers_tools: bool
    last_role: str
    family: int  # instruction family of most calls, NO_FAMILY when most carry none
    schema: AnswerSchema


def signature(rows: np.ndarray, calls: CallShapes) -> Signature:
    """The structural signature of the calls in `rows`."""
    records = [calls.records[i] for i in rows]
    offers = sum(bool(r.tools) for r in records) * 2 > len(records)
    role = Counter(calls.shapes[i].last_role for i in rows).most_common(1)[0][0]
    family = Counter(int(f) for f in calls.families[rows]).most_common(1)[0][0]
    return Signature(system_template(records), offers, role, family, answer_schema(records))


def same_structure(a: Signature, b: Signature, threshold: float) -> bool:
    if a.family != b.family or a.last_role != b.last_role or a.offers_tools != b.offers_tools:
        return False
    if not coarse_match(a.schema, b.schema):
        return False
    if a.family != NO_FAMILY:
        return True
    return bool(a.template) and bool(b.template) and jaccard(a.template, b.template) >= threshold


def _relabel(keys: list[tuple]) -> np.ndarray:
    """Consecutive labels for keys (first seen first); keys starting with -1 stay -1."""
    numbers: dict[tuple, int] = {}
    out = np.empty(len(keys), dtype=np.int64)
    for i, key in enumerate(keys):
        out[i] = -1 if key[0] < 0 else numbers.setdefault(key, len(numbers))
    return out


def split_by_structure(labels: np.ndarray, calls: CallShapes, min_size: int) -> np.ndarray:
    """Content clusters cut by instruction family, tool offer and last role and, where two large schemas meet, by
    answer schema: over a whole family (its content clusters may be small), or within one content cluster for
    calls without an instruction."""
    keys: list[tuple] = [(int(label), int(family), bool(record.tools), shape.last_role, 0)
                         for label, family, record, shape in zip(labels, calls.families, calls.records, calls.shapes,
                                                                  strict=True)]
    groups: dict[tuple, list[int]] = {}
    for i, key in enumerate(keys):
        if key[0] >= 0:
            scope = key[1:4] if key[1] != NO_FAMILY else key[:4]  # a family, or one content cluster
            groups.setdefault(scope, []).append(i)
    for rows in groups.values():
        schemas = schema_groups([calls.records[i] for i in rows])
        sizes = Counter(schemas)
        big = {g for g, n in sizes.items() if n >= max(min_size, SCHEMA_SPLIT_SHARE * len(rows))}
        if len(big) > 1:
            for i, group in zip(rows, schemas, strict=True):
                keys[i] = (*keys[i][:4], group if group in big else 0)
    out = _relabel(keys)
    log.info("structure: %d content clusters -> %d pieces of one instruction family and answer schema",
             len({k for k in labels if k >= 0}), len({k for k in out if k >= 0}))
    return out


def _root(parent: dict[int, int], label: int) -> int:
    while parent[label] != label:
        parent[label] = parent[parent[label]]
        label = parent[label]
    return label


def signatures_of(labels: np.ndarray, calls: CallShapes) -> dict[int, Signature]:
    return {int(c): signature(np.flatnonzero(labels == c), calls) for c in np.unique(labels[labels >= 0])}


def merge_by_structure(labels: np.ndarray, calls: CallShapes, threshold: float = 0.8) -> np.ndarray:
    """New labels where pieces of one structure share the smallest of their labels; -1 stays -1."""
    signatures = signatures_of(labels, calls)
    clusters = sorted(signatures)
    parent = {c: c for c in clusters}
    for i, a in enumerate(clusters):
        for b in clusters[i + 1:]:
            if same_structure(signatures[a], signatures[b], threshold):
                ra, rb = _root(parent, a), _root(parent, b)
                parent[max(ra, rb)] = min(ra, rb)
    mapping = {c: _root(parent, c) for c in clusters}
    merged = np.array([mapping.get(int(label), -1) for label in labels], dtype=np.int64)
    log.info("structure: %d pieces -> %d tasks (same instruction family or system-prompt template, tool offer, "
             "last role and answer schema)", len(clusters), len(set(mapping.values())))
    return merged


def _fits(record: CallRecord, shape: RequestShape, family: int, words: frozenset[str], sig: Signature,
          threshold: float) -> bool:
    if sig.family != family or sig.last_role != shape.last_role or sig.offers_tools != bool(record.tools):
        return False
    if family != NO_FAMILY:
        return True
    return bool(sig.template) and jaccard(words, sig.template) >= threshold


def _answer_fits(record: CallRecord, sig: Signature) -> bool:
    form, keys = call_form(record)
    if sig.schema.form == "tools":
        return form in ("tools", "text")
    if sig.schema.form == "json":
        return form == "json" and (not keys or not sig.schema.keys or bool(keys & sig.schema.keys))
    return form == "text"


def rescue_by_structure(labels: np.ndarray, calls: CallShapes, threshold: float = 0.8) -> np.ndarray:
    """Outliers whose call has the structure of exactly one task join it; returns new labels."""
    labels = labels.copy()
    outliers = np.flatnonzero(labels < 0)
    if len(outliers) == 0 or not np.any(labels >= 0):
        return labels
    signatures = signatures_of(labels, calls)
    cache: dict[str, frozenset[str]] = {}
    rescued = 0
    for i in outliers:
        record, family = calls.records[i], int(calls.families[i])
        prompt = record.system_prompt()
        if family == NO_FAMILY and not prompt.strip():
            continue
        if prompt not in cache:
            cache[prompt] = prompt_words(prompt)
        found = [label for label, sig in signatures.items()
                 if _fits(record, calls.shapes[i], family, cache[prompt], sig, threshold)]
        if len(found) > 1:
            found = [label for label in found if _answer_fits(record, signatures[label])]
        if len(found) == 1:
            labels[i] = found[0]
            rescued += 1
    log.info("structure: %d of %d outliers share the structure of exactly one task and join it; %d stay outliers",
             rescued, len(outliers), len(outliers) - rescued)
    return labels
