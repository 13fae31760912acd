"""Place a new call in a discovered task, or in `none`, with a confidence: what the router and the drift check use.

Fitted with the clusters, on the request alone (a router places a call before any answer exists):

- content: each task's centroid in the embedding space of the discovery (unit mean of its calls' embeddings)
  and the distribution of its own calls' cosine similarities to it (101 percentiles). A task accepts a call
  whose similarity is at least the (1 - coverage) quantile of its calls' (coverage 0.99: 99% of its own calls
  would be accepted).
- structure: the task's system-prompt template (words in at least half of its calls' system prompts), whether
  its calls offer tools, and which (the function names of one agent's fixed tool set: at most
  MAX_TOOL_VOCABULARY names over its calls; a task whose tools change from call to call has no such set), the role
  of the message they end with, and the instruction templates of that message (`requests`; read with the user- and
  tool-turn templates mined at discovery, which the assigner keeps). When at least `coverage` of a task's own calls
  contain `structure_threshold` of the template's words and agree on the tool offer (only tools of its set), the
  last role and an instruction of the task, the task is gated: it only accepts calls that do too. Agents whose
  system prompts share their rules but not their tools are told apart by the tools.
  A gated task whose gate only its own calls pass is decided by structure: `assign(..., by_structure=True)`
  places a call that passes that gate alone without embedding it (confidence 1), which is how a large window of
  calls is assigned in minutes.

Confidence of a task: how typical the call's similarity is among the task's calls (0 at the acceptance
threshold, 1 from the median up), times its share when two tasks accept the call. Confidence of `none`: one
minus the highest typicality among the tasks whose gate it passes (1 when it passes none).

Saved as `<stem>.npz` (centroids, percentiles: plain arrays) and `<stem>.json` (ids, thresholds, templates);
no pickled objects.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from llm2slm.common import stats
from llm2slm.common.files import atomic_path, atomic_write_text
from llm2slm.discovery.catalogue import OUTLIER
from llm2slm.discovery.ids import task_number, unit_centroid
from llm2slm.discovery.prompts import prompt_words, system_template
from llm2slm.discovery.requests import RequestShape, request_shape
from llm2slm.common.schema import CallRecord
from llm2slm.common.templates import Templates

log = logging.getLogger("llm2slm.cluster")

PERCENTILES = np.arange(101, dtype=np.float64)
ASSIGNER_VERSION = 2
RARE_INSTRUCTION = 0.002  # an instruction on fewer than this share of a task's calls (or one call) opens no gate
MAX_TOOL_VOCABULARY = 64  # a task whose calls offer more function names than this has no fixed tool set


@dataclass
class Assigner:
    task_ids: list[str]
    centroids: np.ndarray  # (tasks, dims) unit vectors
    percentiles: np.ndarray  # (tasks, 101): percentiles 0..100 of the members' cosine similarity to the centroid
    thresholds: np.ndarray  # (tasks,) cosine similarity at or above which a task accepts a call
    templates: list[frozenset[str]]
    offers_tools: list[bool]
    gated: list[bool]
    embedding_model: str
    max_chars: int
    coverage: float
    structure_threshold: float
    last_roles: list[str]
    instructions: list[frozenset[str]]  # per task: the instruction templates its gate admits ('' for none)
    exclusive: list[bool]  # per task: gated, and no other task's calls pass its gate
    turn_templates: Templates = Templates()
    # per task: the function names its calls offer, when it is one agent's fixed tool set (empty: no condition; an
    # assigner saved before tool sets were kept has none)
    tools: list[frozenset[str]] = field(default_factory=list)

    def typicality(self, task: int, similarity: float) -> float:
        """0 at the acceptance threshold, 1 at the task's median similarity or closer."""
        share = float(np.interp(similarity, self.percentiles[task], PERCENTILES / 100.0))
        floor = 1.0 - self.coverage
        return float(np.clip((share - floor) / max(0.5 - floor, 1e-9), 0.0, 1.0))

    def gates(self, record: CallRecord) -> list[bool]:
        """Per task, whether the call passes its structural gate (an ungated task admits every call)."""
        words = prompt_words(record.system_prompt())
        shape = request_shape(record, self.turn_templates)
        return [not self.gated[t] or self._admits(t, record, words, shape) for t in range(len(self.task_ids))]

    def _admits(self, task: int, record: CallRecord, words: frozenset[str], shape: RequestShape) -> bool:
        tools = self.tools[task] if self.tools else frozenset()
        return (bool(record.tools) == self.offers_tools[task] and shape.last_role == self.last_roles[task]
                and shape.instruction in self.instructions[task] and (not tools or tool_names(record) <= tools)
                and containment(words, self.templates[task]) >= self.structure_threshold)

    def by_structure(self, record: CallRecord) -> str | None:
        """The task a call belongs to by structure alone (it passes one exclusive task's gate and no other
        gated task's), or None."""
        return self._structural(self.gates(record))

    def _structural(self, gates: list[bool]) -> str | None:
        passed = [t for t in range(len(self.task_ids)) if self.gated[t] and gates[t]]
        return self.task_ids[passed[0]] if len(passed) == 1 and self.exclusive[passed[0]] else None

    def assign_embeddings(self, embeddings: np.ndarray, records: list[CallRecord],
                          by_structure: bool = False) -> list[tuple[str, float]]:
        """(task id or "none", confidence) for calls whose embeddings are given (rows in the records' order). With
        `by_structure`, a call that structure alone places goes there with confidence 1, as `assign` and the
        router place it; the others are placed by content."""
        if len(embeddings) != len(records):
            raise ValueError(f"{len(embeddings)} embeddings for {len(records)} calls")
        if not self.task_ids or len(records) == 0:
            return [(OUTLIER, 1.0) for _ in records]
        similarity = np.asarray(embeddings, dtype=np.float64) @ self.centroids.T
        return [self._place(similarity[row], record, by_structure) for row, record in enumerate(records)]

    def _place(self, similarity: np.ndarray, record: CallRecord, by_structure: bool) -> tuple[str, float]:
        gates = self.gates(record)
        decided = self._structural(gates) if by_structure else None
        if decided is not None:
            return decided, 1.0
        allowed = [t for t in range(len(self.task_ids)) if gates[t]]
        typical = {t: self.typicality(t, float(similarity[t])) for t in allowed}
        accepting = sorted((t for t in allowed if similarity[t] >= self.thresholds[t]),
                           key=lambda t: (-typical[t], -similarity[t], t))
        if not accepting:
            return OUTLIER, round(1.0 - max(typical.values(), default=0.0), 6)
        best = accepting[0]
        confidence = typical[best]
        if len(accepting) > 1:
            runner_up = typical[accepting[1]]
            confidence *= confidence / max(confidence + runner_up, 1e-9)
        return self.task_ids[best], round(confidence, 6)

    def assign(self, records: list[CallRecord], progress: bool = False,
               by_structure: bool = False) -> list[tuple[str, float]]:
        """(task id or "none", confidence) for each call: embeds the requests, then places them. With
        `by_structure`, a call that structure alone places (`by_structure`) is not embedded (confidence 1)."""
        from llm2slm.discovery.embed import BATCH_SIZE, embed_calls
        from llm2slm.discovery.text import content_text, shape_text

        if not records:
            return []
        decided = [self.by_structure(r) if by_structure else None for r in records]
        rest = [r for r, task in zip(records, decided, strict=True) if task is None]
        placed = iter([])
        if rest:
            embeddings = embed_calls([shape_text(r) for r in rest],
                                     [content_text(r, self.max_chars, self.turn_templates) for r in rest],
                                     self.embedding_model, BATCH_SIZE, progress=progress)
            placed = iter(self.assign_embeddings(embeddings, rest))
        return [(task, 1.0) if task is not None else next(placed) for task in decided]

    def save(self, stem: Path) -> None:
        """Write `<stem>.npz` and `<stem>.json`."""
        stem = Path(stem)
        with atomic_path(stem.with_suffix(".npz")) as tmp:
            write_npz(tmp, {"centroids": self.centroids, "percentiles": self.percentiles,
                            "thresholds": self.thresholds})
        meta = {"version": ASSIGNER_VERSION, "task_ids": self.task_ids,
                "templates": [sorted(t) for t in self.templates], "offers_tools": self.offers_tools,
                "gated": self.gated, "embedding_model": self.embedding_model, "max_chars": self.max_chars,
                "coverage": self.coverage, "structure_threshold": self.structure_threshold,
                "last_roles": self.last_roles, "instructions": [sorted(i) for i in self.instructions],
                "exclusive": self.exclusive, "turn_templates": self.turn_templates.to_json(),
                "tools": [sorted(t) for t in self.tools]}
        atomic_write_text(stem.with_suffix(".json"), json.dumps(meta, indent=1, sort_keys=True) + "\n")


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An .npz file (float32 arrays) that `np.load` reads, with fixed entry dates: the same arrays, the same bytes
    (`np.savez` stamps each entry with the current time)."""
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with archive.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.ascontiguousarray(arrays[name], dtype=np.float32),
                                          allow_pickle=False)


def containment(words: frozenset[str], template: frozenset[str]) -> float:
    """Share of the template's words found in a call's system prompt."""
    return len(words & template) / len(template) if template else 0.0


def load_assigner(stem: Path) -> Assigner:
    """Read an assigner saved by `Assigner.save` (give the stem, or either file)."""
    stem = Path(stem).with_suffix("")
    try:
        meta = json.loads(stem.with_suffix(".json").read_text(encoding="utf-8"))
        with np.load(stem.with_suffix(".npz"), allow_pickle=False) as arrays:
            centroids, percentiles, thresholds = (arrays[k].astype(np.float64)
                                                  for k in ("centroids", "percentiles", "thresholds"))
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"no assigner at {stem}(.json/.npz): run the cluster stage first") from exc
    if meta.get("version") != ASSIGNER_VERSION:
        raise ValueError(f"{stem}.json: assigner version {meta.get('version')}, expected {ASSIGNER_VERSION}: re-run "
                         "the cluster stage to fit this version")
    return Assigner(task_ids=meta["task_ids"], centroids=centroids, percentiles=percentiles, thresholds=thresholds,
                    templates=[frozenset(t) for t in meta["templates"]], offers_tools=meta["offers_tools"],
                    gated=meta["gated"], embedding_model=meta["embedding_model"], max_chars=meta["max_chars"],
                    coverage=meta["coverage"], structure_threshold=meta["structure_threshold"],
                    last_roles=meta["last_roles"], instructions=[frozenset(i) for i in meta["instructions"]],
                    exclusive=meta["exclusive"], turn_templates=Templates.from_json(meta["turn_templates"]),
                    tools=[frozenset(t) for t in meta.get("tools", [])])


@dataclass(frozen=True)
class Gate:
    template: frozenset[str]
    offers_tools: bool
    last_role: str
    instructions: frozenset[str]
    gated: bool
    tools: frozenset[str] = frozenset()


def tool_names(record: CallRecord) -> frozenset[str]:
    """The names of the functions a call offers."""
    return frozenset(tool.function.name for tool in record.tools or [])


def tool_vocabulary(members: list[CallRecord], offers: bool) -> frozenset[str]:
    """The function names a task's calls offer when it is one agent's fixed tool set (at most MAX_TOOL_VOCABULARY
    names); empty when it offers none or its tools change from call to call."""
    if not offers:
        return frozenset()
    names = frozenset().union(*(tool_names(r) for r in members))
    return names if len(names) <= MAX_TOOL_VOCABULARY else frozenset()


def structure_gate(members: list[CallRecord], shapes: list[RequestShape], coverage: float,
                   threshold: float) -> Gate:
    """A task's gate: gated when `coverage` of its members pass the structural test."""
    template = system_template(members)
    offers = sum(bool(r.tools) for r in members) * 2 > len(members)
    role = Counter(s.last_role for s in shapes).most_common(1)[0][0]
    counts = Counter(s.instruction for s in shapes)
    instructions = frozenset(i for i, n in counts.items() if n >= max(2, RARE_INSTRUCTION * len(members)))
    tools = tool_vocabulary(members, offers)
    if not template:
        return Gate(template, offers, role, instructions, False, tools)
    cache: dict[str, float] = {}
    passing = 0
    for record, shape in zip(members, shapes, strict=True):
        prompt = record.system_prompt()
        if prompt not in cache:
            cache[prompt] = containment(prompt_words(prompt), template)
        passing += (cache[prompt] >= threshold and bool(record.tools) == offers and shape.last_role == role
                    and shape.instruction in instructions and (not tools or tool_names(record) <= tools))
    return Gate(template, offers, role, instructions, passing >= coverage * len(members), tools)


def fit_assigner(embeddings: np.ndarray, records: list[CallRecord], task_ids: list[str], embedding_model: str,
                 max_chars: int, coverage: float = 0.99, structure_threshold: float = 0.8,
                 turn_templates: Templates = Templates()) -> Assigner:
    """Fit on the clustered calls (rows of `embeddings` in the records' order; `none` calls are left out)."""
    labels = np.array(task_ids)
    tasks = sorted({t for t in task_ids if t != OUTLIER}, key=task_number)
    shapes = [request_shape(r, turn_templates) for r in records]
    centroids, percentiles, thresholds, gates = [], [], [], []
    for task in tasks:
        rows = np.flatnonzero(labels == task)
        centroid = unit_centroid(embeddings, rows)
        similarity = embeddings[rows].astype(np.float64) @ centroid
        centroids.append(centroid)
        percentiles.append(stats.percentiles(similarity, PERCENTILES))
        thresholds.append(stats.percentile(similarity, 100 * (1.0 - coverage)))
        gates.append(structure_gate([records[i] for i in rows], [shapes[i] for i in rows], coverage,
                                    structure_threshold))
    dims = embeddings.shape[1] if embeddings.ndim == 2 else 0
    assigner = Assigner(task_ids=tasks, centroids=np.array(centroids).reshape(len(tasks), dims),
                        percentiles=np.array(percentiles).reshape(len(tasks), len(PERCENTILES)),
                        thresholds=np.array(thresholds), templates=[g.template for g in gates],
                        offers_tools=[g.offers_tools for g in gates], gated=[g.gated for g in gates],
                        embedding_model=embedding_model, max_chars=max_chars, coverage=coverage,
                        structure_threshold=structure_threshold, last_roles=[g.last_role for g in gates],
                        instructions=[g.instructions for g in gates], exclusive=[False] * len(tasks),
                        turn_templates=turn_templates, tools=[g.tools for g in gates])
    assigner.exclusive = exclusive_gates(assigner, records, labels)
    log.info("assigner: %d tasks, acceptance thresholds (cosine) %s, structure-gated %s, decided by structure %s",
             len(tasks), [round(float(x), 3) for x in assigner.thresholds], dict(zip(tasks, assigner.gated,
                                                                                     strict=True)),
             dict(zip(tasks, assigner.exclusive, strict=True)))
    return assigner


def exclusive_gates(assigner: Assigner, records: list[CallRecord], labels: np.ndarray) -> list[bool]:
    """Per task: gated, and no call of another task (outliers included) passes its gate."""
    foreign = [False] * len(assigner.task_ids)
    index = {t: i for i, t in enumerate(assigner.task_ids)}
    for record, label in zip(records, labels, strict=True):
        for task, passed in enumerate(assigner.gates(record)):
            if passed and assigner.gated[task] and index.get(str(label)) != task:
                foreign[task] = True
    return [g and not f for g, f in zip(assigner.gated, foreign, strict=True)]
