"""Place a new call in a discovered task, or in `none`, with a confidence: what the router and the drift check use.

Fitted with the clusters, on the request alone (a router places a call before any answer exists):

- content: each task's centroid in the embedding space of the discovery (unit mean of its calls' embeddings)
  and the distribution of its own calls' cosine similarities to it (101 percentiles). A task accepts a call
  whose similarity is at least the (1 - coverage) quantile of its calls' (coverage 0.99: 99% of its own calls
  would be accepted).
- structure: the task's system-prompt template (words in at least half of its calls' system prompts) and
  whether its calls offer tools. When at least `coverage` of a task's own calls contain `structure_threshold`
  of the template's words and agree on the tool offer, the task is gated: it only accepts calls that do too.

Confidence of a task: how typical the call's similarity is among the task's calls (0 at the acceptance
threshold, 1 from the median up), times its share when two tasks accept the call. Confidence of `none`: one
minus the highest typicality among the tasks whose gate it passes (1 when it passes none).

Saved as `<stem>.npz` (centroids, percentiles: plain arrays) and `<stem>.json` (ids, thresholds, templates);
no pickled objects.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from llm2slm.common import stats
from llm2slm.common.files import atomic_path, atomic_write_text
from llm2slm.discovery.catalogue import OUTLIER
from llm2slm.discovery.ids import task_number, unit_centroid
from llm2slm.discovery.structure import prompt_words, signature
from llm2slm.common.schema import CallRecord

log = logging.getLogger("llm2slm.cluster")

PERCENTILES = np.arange(101, dtype=np.float64)
ASSIGNER_VERSION = 1


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

    def typicality(self, task: int, similarity: float) -> float:
        """0 at the acceptance threshold, 1 at the task's median similarity or closer."""
        share = float(np.interp(similarity, self.percentiles[task], PERCENTILES / 100.0))
        floor = 1.0 - self.coverage
        return float(np.clip((share - floor) / max(0.5 - floor, 1e-9), 0.0, 1.0))

    def passes_gate(self, task: int, record: CallRecord) -> bool:
        if not self.gated[task]:
            return True
        return (bool(record.tools) == self.offers_tools[task]
                and containment(prompt_words(record.system_prompt()), self.templates[task])
                >= self.structure_threshold)

    def assign_embeddings(self, embeddings: np.ndarray, records: list[CallRecord]) -> list[tuple[str, float]]:
        """(task id or "none", confidence) for calls whose embeddings are given (rows in the records' order)."""
        if len(embeddings) != len(records):
            raise ValueError(f"{len(embeddings)} embeddings for {len(records)} calls")
        if not self.task_ids or len(records) == 0:
            return [(OUTLIER, 1.0) for _ in records]
        similarity = np.asarray(embeddings, dtype=np.float64) @ self.centroids.T
        return [self._place(similarity[row], record) for row, record in enumerate(records)]

    def _place(self, similarity: np.ndarray, record: CallRecord) -> tuple[str, float]:
        allowed = [t for t in range(len(self.task_ids)) if self.passes_gate(t, record)]
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

    def assign(self, records: list[CallRecord], progress: bool = False) -> list[tuple[str, float]]:
        """(task id or "none", confidence) for each call: embeds the requests, then places them."""
        from llm2slm.discovery.embed import BATCH_SIZE, embed_calls
        from llm2slm.discovery.text import content_text, shape_text

        if not records:
            return []
        embeddings = embed_calls([shape_text(r) for r in records],
                                 [content_text(r, self.max_chars) for r in records], self.embedding_model,
                                 BATCH_SIZE, progress=progress)
        return self.assign_embeddings(embeddings, records)

    def save(self, stem: Path) -> None:
        """Write `<stem>.npz` and `<stem>.json`."""
        stem = Path(stem)
        with atomic_path(stem.with_suffix(".npz")) as tmp:
            write_npz(tmp, {"centroids": self.centroids, "percentiles": self.percentiles,
                            "thresholds": self.thresholds})
        meta = {"version": ASSIGNER_VERSION, "task_ids": self.task_ids,
                "templates": [sorted(t) for t in self.templates], "offers_tools": self.offers_tools,
                "gated": self.gated, "embedding_model": self.embedding_model, "max_chars": self.max_chars,
                "coverage": self.coverage, "structure_threshold": self.structure_threshold}
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
        raise ValueError(f"{stem}.json: assigner version {meta.get('version')}, expected {ASSIGNER_VERSION}")
    return Assigner(task_ids=meta["task_ids"], centroids=centroids, percentiles=percentiles, thresholds=thresholds,
                    templates=[frozenset(t) for t in meta["templates"]], offers_tools=meta["offers_tools"],
                    gated=meta["gated"], embedding_model=meta["embedding_model"], max_chars=meta["max_chars"],
                    coverage=meta["coverage"], structure_threshold=meta["structure_threshold"])


def _structure_gate(members: list[CallRecord], coverage: float, threshold: float) -> tuple[frozenset[str], bool, bool]:
    """(template, offers tools, gated): gated when `coverage` of the members pass the structural test."""
    sig = signature(members)
    if not sig.template:
        return sig.template, sig.offers_tools, False
    cache: dict[str, float] = {}
    passing = 0
    for record in members:
        prompt = record.system_prompt()
        if prompt not in cache:
            cache[prompt] = containment(prompt_words(prompt), sig.template)
        passing += cache[prompt] >= threshold and bool(record.tools) == sig.offers_tools
    return sig.template, sig.offers_tools, passing >= coverage * len(members)


def fit_assigner(embeddings: np.ndarray, records: list[CallRecord], task_ids: list[str], embedding_model: str,
                 max_chars: int, coverage: float = 0.99, structure_threshold: float = 0.8) -> Assigner:
    """Fit on the clustered calls (rows of `embeddings` in the records' order; `none` calls are left out)."""
    labels = np.array(task_ids)
    tasks = sorted({t for t in task_ids if t != OUTLIER}, key=task_number)
    centroids, percentiles, thresholds, templates, offers, gated = [], [], [], [], [], []
    for task in tasks:
        rows = np.flatnonzero(labels == task)
        centroid = unit_centroid(embeddings, rows)
        similarity = embeddings[rows].astype(np.float64) @ centroid
        centroids.append(centroid)
        percentiles.append(stats.percentiles(similarity, PERCENTILES))
        thresholds.append(stats.percentile(similarity, 100 * (1.0 - coverage)))
        template, offers_tools, is_gated = _structure_gate([records[i] for i in rows], coverage, structure_threshold)
        templates.append(template)
        offers.append(offers_tools)
        gated.append(is_gated)
    dims = embeddings.shape[1] if embeddings.ndim == 2 else 0
    assigner = Assigner(task_ids=tasks, centroids=np.array(centroids).reshape(len(tasks), dims),
                        percentiles=np.array(percentiles).reshape(len(tasks), len(PERCENTILES)),
                        thresholds=np.array(thresholds), templates=templates, offers_tools=offers, gated=gated,
                        embedding_model=embedding_model, max_chars=max_chars, coverage=coverage,
                        structure_threshold=structure_threshold)
    log.info("assigner: %d tasks, acceptance thresholds (cosine) %s, structure-gated %s", len(tasks),
             [round(float(x), 3) for x in assigner.thresholds], dict(zip(tasks, gated, strict=True)))
    return assigner
