"""Task discovery in memory: call records in, one task (or `none`) per call and a catalogue entry per task out.

embed (MiniLM, structural-plus-content text) -> UMAP -> HDBSCAN -> outliers rejoin a near cluster -> content
clusters of one call structure merge into one task -> outliers with exactly one task's structure join it ->
tasks ranked by size (`task-00` the largest) -> names, exemplars, output shape and token lengths.
Too few calls to cluster (fewer than two minimum-size clusters, or than UMAP's neighbourhood) give one task.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from llm2slm.config import ClusterConfig
from llm2slm.discovery.catalogue import OUTLIER, Exemplar, TaskEntry, task_id_for
from llm2slm.discovery.embed import BATCH_SIZE, embed_calls
from llm2slm.discovery.naming import ctfidf_keywords, exemplar_rows, shorten, task_name
from llm2slm.discovery.profile import output_shape, token_percentiles
from llm2slm.discovery.reduce import (hdbscan_labels, min_cluster_size_for, reassign_outliers, too_few_to_cluster,
                                      umap_reduce)
from llm2slm.discovery.structure import merge_by_structure, rescue_by_structure
from llm2slm.discovery.text import SYSTEM_CHARS, content_text, shape_text, user_text
from llm2slm.schema import CallRecord

log = logging.getLogger("llm2slm.cluster")


@dataclass(frozen=True)
class Options:
    """Choices of the discovery that are not (yet) in `ClusterConfig`."""

    closed_label_max: int = 400
    closed_label_coverage: float = 0.98
    outlier_reach_quantile: float = 0.95
    structure_threshold: float = 0.8
    merge_by_structure: bool = True
    progress: bool = True


@dataclass
class Discovery:
    ids: list[str]
    task_ids: list[str]
    probabilities: np.ndarray
    coords: np.ndarray
    tasks: list[TaskEntry]
    params: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def n_outliers(self) -> int:
        return sum(t == OUTLIER for t in self.task_ids)


def plane(points: np.ndarray) -> np.ndarray:
    """Two coordinates per call for the scatter: the first two columns, or a PCA of the embeddings."""
    n = points.shape[0]
    if n >= 3 and points.shape[1] > 2:
        from sklearn.decomposition import PCA

        return PCA(n_components=2, svd_solver="full").fit_transform(points)
    out = np.zeros((n, 2))
    out[:, :min(2, points.shape[1])] = points[:, :2]
    return out


def cluster_labels(embeddings: np.ndarray, records: list[CallRecord], cfg: ClusterConfig,
                   options: Options, timings: dict[str, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels with -1 for outliers, probabilities, 2-d coordinates) of the calls."""
    n = len(records)
    size = min_cluster_size_for(n, cfg.min_cluster_fraction)
    if too_few_to_cluster(n, size, cfg.umap_neighbors):
        log.warning("%d calls are too few to cluster (min cluster size %d, UMAP neighbours %d): one task", n, size,
                    cfg.umap_neighbors)
        return np.zeros(n, dtype=np.int64), np.ones(n), plane(embeddings)
    start = time.perf_counter()
    points = umap_reduce(embeddings, cfg.umap_components, cfg.umap_neighbors, cfg.seed)
    timings["umap_s"] = time.perf_counter() - start
    start = time.perf_counter()
    labels, probabilities = hdbscan_labels(points, size, cfg.min_samples)
    timings["hdbscan_s"] = time.perf_counter() - start
    log.info("UMAP %d-d (%d neighbours) in %.1f s; HDBSCAN (min cluster size %d, min samples %d) in %.2f s: "
             "%d clusters, %d outliers", cfg.umap_components, min(cfg.umap_neighbors, n - 1), timings["umap_s"],
             size, cfg.min_samples, timings["hdbscan_s"], labels.max() + 1, int((labels < 0).sum()))
    if labels.max() < 0:
        log.warning("HDBSCAN found no dense group in %d calls: they are kept together as one task", n)
        return np.zeros(n, dtype=np.int64), np.zeros(n), points[:, :2]
    labels, probabilities = reassign_outliers(points, labels, probabilities, options.outlier_reach_quantile)
    if options.merge_by_structure:
        labels = merge_by_structure(labels, records, options.structure_threshold)
        labels = rescue_by_structure(labels, records, options.structure_threshold)
    return labels, probabilities, points[:, :2]


def rank_by_size(labels: np.ndarray, ids: list[str]) -> list[str]:
    """Task id per call: `task-00` for the largest cluster (ties: the one with the smallest call id), `none` for -1."""
    sizes = Counter(int(label) for label in labels if label >= 0)
    first_id: dict[int, str] = {}
    for label, call_id in zip((int(x) for x in labels), ids, strict=True):
        if label >= 0 and (label not in first_id or call_id < first_id[label]):
            first_id[label] = call_id
    order = sorted(sizes, key=lambda label: (-sizes[label], first_id[label]))
    names = {label: task_id_for(rank) for rank, label in enumerate(order)}
    return [names.get(int(label), OUTLIER) for label in labels]


def describe_tasks(records: list[CallRecord], task_ids: list[str], embeddings: np.ndarray, cfg: ClusterConfig,
                   options: Options) -> list[TaskEntry]:
    """One catalogue entry per task, in task-id order."""
    tasks = sorted(t for t in set(task_ids) if t != OUTLIER)
    labels = np.array(task_ids)
    members = {t: np.flatnonzero(labels == t) for t in tasks}
    users = [user_text(r) for r in records]
    documents = [" ".join(users[i] for i in members[t]) for t in tasks]
    keywords = ctfidf_keywords(documents, cfg.keywords)
    entries = []
    for task, words in zip(tasks, keywords, strict=True):
        rows = members[task]
        chosen = [records[i] for i in rows]
        shape, distinct = output_shape(chosen, options.closed_label_max, options.closed_label_coverage)
        exemplars = [Exemplar(id=records[i].id, text=shorten(users[i]))
                     for i in exemplar_rows(embeddings, rows, 3, users)]
        entries.append(TaskEntry(task_id=task, name=task_name(words, task), keywords=words, size=len(rows),
                                 exemplars=exemplars, output_shape=shape, n_distinct_answers=distinct,
                                 tokens=token_percentiles(chosen)))
        log.info("%s %s: %d calls, %s, %d distinct answers", task, entries[-1].name, len(rows), shape, distinct)
    return entries


def discover(records: list[CallRecord], cfg: ClusterConfig, options: Options | None = None,
             embeddings: np.ndarray | None = None) -> Discovery:
    """Discover the tasks of `records` (any order; results are in call-id order). `embeddings`, when given,
    are the unit-length embeddings of the records' texts in call-id order (to reuse them across runs)."""
    options = options or Options()
    if not records:
        raise ValueError("no calls to cluster: the snapshot is empty (did curation remove every call?)")
    records = sorted(records, key=lambda r: r.id)
    ids = [r.id for r in records]
    timings = {"embed_s": 0.0, "umap_s": 0.0, "hdbscan_s": 0.0}
    if embeddings is None:
        start = time.perf_counter()
        embeddings = embed_calls([shape_text(r) for r in records], [content_text(r, cfg.max_chars) for r in records],
                                 cfg.embedding_model, BATCH_SIZE, progress=options.progress)
        timings["embed_s"] = time.perf_counter() - start
        log.info("embedded %d calls with %s in %.1f s", len(ids), cfg.embedding_model, timings["embed_s"])
    labels, probabilities, coords = cluster_labels(embeddings, records, cfg, options, timings)
    task_ids = rank_by_size(labels, ids)
    probabilities = np.where(np.array(task_ids) == OUTLIER, 0.0, probabilities)
    tasks = describe_tasks(records, task_ids, embeddings, cfg, options)
    return Discovery(ids=ids, task_ids=task_ids, probabilities=probabilities, coords=coords, tasks=tasks,
                     params=run_params(len(ids), cfg, options), timings=timings)


def run_params(n: int, cfg: ClusterConfig, options: Options) -> dict[str, Any]:
    size = min_cluster_size_for(n, cfg.min_cluster_fraction)
    return {
        **cfg.model_dump(),
        "min_cluster_size": size,
        "umap_neighbors_used": max(2, min(cfg.umap_neighbors, n - 1)),
        "too_few_to_cluster": too_few_to_cluster(n, size, cfg.umap_neighbors),
        "embedded_text": f"embedding(system prompt[:{SYSTEM_CHARS}] + tool names) + embedding(previous assistant "
                         f"turn + last user message, at most max_chars), normalised",
        "closed_label_max": options.closed_label_max,
        "closed_label_coverage": options.closed_label_coverage,
        "outlier_reach_quantile": options.outlier_reach_quantile,
        "merge_by_structure": options.merge_by_structure,
        "structure_threshold": options.structure_threshold,
    }
