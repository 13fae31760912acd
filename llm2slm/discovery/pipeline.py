"""Task discovery in memory: call records in, one task (or `none`) per call and a catalogue entry per task out.

templates of user and tool turns mined (`common.templates`) -> embed (MiniLM, structural-plus-content text, the
content without its template lines) -> UMAP -> HDBSCAN -> outliers rejoin a near cluster -> instruction templates
grouped into families (`requests`) -> content clusters cut by family and answer schema, pieces of one structure
merged into one task (`structure`) -> outliers with exactly one task's structure join it ->
the outlier budget -> ids: a task matching a registered centroid keeps its id, new tasks get the next free
numbers in order of size -> names, exemplars, output shape and token lengths.
Too few calls to cluster (fewer than two minimum-size clusters, or than UMAP's neighbourhood) give one task.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from llm2slm.common.config import ClusterConfig, SelectConfig
from llm2slm.discovery.catalogue import OUTLIER, Exemplar, TaskEntry, task_id_for
from llm2slm.discovery.embed import BATCH_SIZE, embed_calls
from llm2slm.discovery.ids import Registry, assign_ids, task_number, unit_centroid
from llm2slm.discovery.naming import (ctfidf_keywords, exemplar_rows, instruction_topics, schema_name, shorten,
                                      task_name, with_topic)
from llm2slm.discovery.profile import output_shape, token_percentiles
from llm2slm.discovery.reduce import (enforce_outlier_budget, hdbscan_labels, min_cluster_size_for, reassign_outliers,
                                      too_few_to_cluster, umap_reduce)
from llm2slm.discovery.answers import answer_schema
from llm2slm.discovery.requests import NO_FAMILY, RequestShape, instruction_families, request_shape
from llm2slm.discovery.structure import CallShapes, merge_by_structure, rescue_by_structure, split_by_structure
from llm2slm.discovery.text import SYSTEM_CHARS, content_text, shape_text, user_text
from llm2slm.common.schema import CallRecord
from llm2slm.common.templates import Templates, mine_templates, record_messages

log = logging.getLogger("llm2slm.cluster")


_SELECT_DEFAULTS = SelectConfig()


@dataclass(frozen=True)
class Options:
    """Choices of the discovery that are not in `ClusterConfig`. The closed-label thresholds are selection's
    (`select.closed_label_max`, `select.closed_label_coverage`: the stage passes the configured ones, see
    `from_select`); their defaults are SelectConfig's."""

    closed_label_max: int = _SELECT_DEFAULTS.closed_label_max
    closed_label_coverage: float = _SELECT_DEFAULTS.closed_label_coverage
    merge_by_structure: bool = True
    progress: bool = True

    @classmethod
    def from_select(cls, select: SelectConfig, **choices: bool) -> "Options":
        """The options with `select`'s closed-label thresholds (and `merge_by_structure` / `progress`)."""
        return cls(closed_label_max=select.closed_label_max, closed_label_coverage=select.closed_label_coverage,
                   **choices)


@dataclass
class Discovery:
    ids: list[str]
    task_ids: list[str]
    probabilities: np.ndarray
    coords: np.ndarray
    tasks: list[TaskEntry]
    params: dict[str, Any]
    embeddings: np.ndarray
    content_labels: np.ndarray
    registry: Registry
    templates: Templates = field(default_factory=Templates)
    shapes: list[RequestShape] = field(default_factory=list)  # per call, in `ids` order
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


@dataclass
class Labels:
    tasks: np.ndarray  # per call: task label, -1 for an outlier
    content: np.ndarray  # per call: HDBSCAN's content cluster (after the reach step), before the structural merge
    probabilities: np.ndarray
    coords: np.ndarray  # per call: two coordinates for the scatter
    families: np.ndarray | None = None  # per call: instruction family, -1 for none
    wordings: dict[int, list[str]] = field(default_factory=dict)  # family -> its instruction templates


def cluster_labels(embeddings: np.ndarray, records: list[CallRecord], shapes: list[RequestShape],
                   cfg: ClusterConfig, options: Options, timings: dict[str, float]) -> Labels:
    """Task labels of the calls (see the module's docstring for the steps)."""
    n = len(records)
    size = min_cluster_size_for(n, cfg.min_cluster_fraction)
    if too_few_to_cluster(n, size, cfg.umap_neighbors):
        log.warning("%d calls are too few to cluster (min cluster size %d, UMAP neighbours %d): one task", n, size,
                    cfg.umap_neighbors)
        zeros = np.zeros(n, dtype=np.int64)
        return Labels(zeros, zeros, np.ones(n), plane(embeddings))
    start, cpu = time.perf_counter(), time.process_time()
    points = umap_reduce(embeddings, cfg.umap_components, cfg.umap_neighbors, cfg.seed, cfg.umap_fit_max)
    timings["umap_s"], timings["umap_cpu_s"] = time.perf_counter() - start, time.process_time() - cpu
    start, cpu = time.perf_counter(), time.process_time()
    labels, probabilities = hdbscan_labels(points, size, cfg.min_samples)
    timings["hdbscan_s"], timings["hdbscan_cpu_s"] = time.perf_counter() - start, time.process_time() - cpu
    log.info("UMAP %d-d (%d neighbours) in %.1f s; HDBSCAN (min cluster size %d, min samples %d) in %.2f s: "
             "%d clusters, %d outliers", cfg.umap_components, min(cfg.umap_neighbors, n - 1), timings["umap_s"],
             size, cfg.min_samples, timings["hdbscan_s"], labels.max() + 1, int((labels < 0).sum()))
    if labels.max() < 0:
        log.warning("HDBSCAN found no dense group in %d calls: they are kept together as one task", n)
        zeros = np.zeros(n, dtype=np.int64)
        return Labels(zeros, labels, np.zeros(n), points[:, :2])
    labels, probabilities = reassign_outliers(points, labels, probabilities, cfg.outlier_reach_quantile)
    content = labels.copy()
    families, wordings = instruction_families(records, shapes, content, cfg.structure_threshold)
    log.info("instructions: %d templates of the last message in %d families", sum(map(len, wordings.values())),
             len(wordings))
    if options.merge_by_structure:
        calls = CallShapes(records, shapes, families)
        labels = split_by_structure(labels, calls, size)
        labels = merge_by_structure(labels, calls, cfg.structure_threshold)
        labels = rescue_by_structure(labels, calls, cfg.structure_threshold)
    labels, probabilities = enforce_outlier_budget(points, labels, probabilities, cfg.outlier_budget)
    return Labels(labels, content, probabilities, points[:, :2], families, wordings)


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
                   options: Options, templates: Templates = Templates(),
                   shapes: list[RequestShape] | None = None) -> list[TaskEntry]:
    """One catalogue entry per task, in task-id order."""
    tasks = sorted((t for t in set(task_ids) if t != OUTLIER), key=task_number)
    labels = np.array(task_ids)
    members = {t: np.flatnonzero(labels == t) for t in tasks}
    shapes = shapes or [RequestShape("user", "") for _ in records]
    users = [user_text(r, templates) for r in records]
    keywords = ctfidf_keywords([" ".join(users[i] for i in members[t]) for t in tasks], cfg.keywords)
    instructions = {t: instruction_counts(shapes, members[t]) for t in tasks}
    topics = instruction_topics([instruction_document(instructions[t]) for t in tasks],
                                [" ".join(records[i].answer_text() for i in members[t][:2000]) for t in tasks])
    entries = []
    for task, words, topic in zip(tasks, keywords, topics, strict=True):
        rows = members[task]
        chosen = [records[i] for i in rows]
        shape, distinct = output_shape(chosen, options.closed_label_max, options.closed_label_coverage)
        exemplars = [Exemplar(id=records[i].id, text=shorten(users[i] or records[i].last_user_message()))
                     for i in exemplar_rows(embeddings, rows, 3, users)]
        name = schema_name([r.answer_text() for r in chosen],
                           [[c.function.name for c in r.response.tool_calls or []] for r in chosen], shape, distinct)
        entries.append(TaskEntry(
            task_id=task, name=with_topic(name, topic) if name else task_name(words, task), keywords=words,
            size=len(rows), exemplars=exemplars, output_shape=shape, n_distinct_answers=distinct,
            tokens=token_percentiles(chosen), instructions=[shorten(i) for i in instructions[task][:5]],
            answer_schema=answer_schema(chosen).describe(),
            last_role=Counter(shapes[i].last_role for i in rows).most_common(1)[0][0]))
        log.info("%s %s: %d calls, %s, %d distinct answers", task, entries[-1].name, len(rows), shape, distinct)
    return entries


def instruction_counts(shapes: list[RequestShape], rows: np.ndarray) -> list[str]:
    """The instruction templates of the calls in `rows`, most frequent first ('' left out)."""
    counts = Counter(shapes[i].instruction for i in rows if shapes[i].instruction)
    return [text for text, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


def instruction_document(instructions: list[str]) -> list[str]:
    """What a task's calls are told to do in their last message: its instruction templates ([''] when none; a
    system prompt names its agent, brand and manner more than its task, so it names no task)."""
    return instructions or [""]


def stable_ids(ranked: list[str], embeddings: np.ndarray, registry: Registry, cfg: ClusterConfig,
               ) -> tuple[list[str], Registry]:
    """Final task id per call: the ranked ids (`task-00` the largest) renamed by the registry's matching."""
    labels = np.array(ranked)
    ranks = sorted({t for t in ranked if t != OUTLIER}, key=task_number)
    rows = [np.flatnonzero(labels == t) for t in ranks]
    centroids = np.array([unit_centroid(embeddings, r) for r in rows]).reshape(len(ranks), embeddings.shape[1])
    final, registry = assign_ids(centroids, ranks, [len(r) for r in rows], registry, cfg.embedding_model,
                                 cfg.id_match_similarity)
    rename = dict(zip(ranks, final, strict=True))
    return [rename.get(t, OUTLIER) for t in ranked], registry


def name_registry(registry: Registry, tasks: list[TaskEntry]) -> Registry:
    names = {t.task_id: t.name for t in tasks}
    return registry.model_copy(update={"tasks": [t.model_copy(update={"name": names.get(t.task_id, t.name)})
                                                 for t in registry.tasks]})


def discover(records: list[CallRecord], cfg: ClusterConfig, options: Options | None = None,
             embeddings: np.ndarray | None = None, registry: Registry | None = None) -> Discovery:
    """Discover the tasks of `records` (any order; results are in call-id order). `embeddings`, when given,
    are the unit-length embeddings of the records' texts in call-id order (to reuse them across runs);
    `registry` holds the ids of earlier runs (see `llm2slm.discovery.ids`)."""
    options = options or Options()
    if not records:
        raise ValueError("no calls to cluster: the snapshot is empty (did curation remove every call?)")
    records = sorted(records, key=lambda r: r.id)
    ids = [r.id for r in records]
    timings = {"embed_s": 0.0, "umap_s": 0.0, "hdbscan_s": 0.0}
    templates = mine_templates(record_messages(records))
    shapes = [request_shape(r, templates) for r in records]
    log.info("templates: %d template lines of user and tool turns; %d calls end with an instruction template",
             len(templates), sum(bool(s.instruction) for s in shapes))
    if embeddings is None:
        start, cpu = time.perf_counter(), time.process_time()
        embeddings = embed_calls([shape_text(r) for r in records],
                                 [content_text(r, cfg.max_chars, templates) for r in records],
                                 cfg.embedding_model, BATCH_SIZE, progress=options.progress)
        timings["embed_s"], timings["embed_cpu_s"] = time.perf_counter() - start, time.process_time() - cpu
        log.info("embedded %d calls with %s in %.1f s", len(ids), cfg.embedding_model, timings["embed_s"])
    found = cluster_labels(embeddings, records, shapes, cfg, options, timings)
    task_ids, registry = stable_ids(rank_by_size(found.tasks, ids), embeddings, registry or Registry(), cfg)
    probabilities = np.where(np.array(task_ids) == OUTLIER, 0.0, found.probabilities)
    tasks = describe_tasks(records, task_ids, embeddings, cfg, options, templates, shapes)
    return Discovery(ids=ids, task_ids=task_ids, probabilities=probabilities, coords=found.coords, tasks=tasks,
                     params=run_params(len(ids), cfg, options), embeddings=embeddings, content_labels=found.content,
                     registry=name_registry(registry, tasks), templates=templates, shapes=shapes, timings=timings)


def run_params(n: int, cfg: ClusterConfig, options: Options) -> dict[str, Any]:
    size = min_cluster_size_for(n, cfg.min_cluster_fraction)
    return {
        **cfg.model_dump(),
        "min_cluster_size": size,
        "umap_neighbors_used": max(2, min(cfg.umap_neighbors, n - 1)),
        "umap_fitted_on": min(n, cfg.umap_fit_max),
        "too_few_to_cluster": too_few_to_cluster(n, size, cfg.umap_neighbors),
        "embedded_text": f"embedding(system prompt[:{SYSTEM_CHARS}] with digits masked + tool names + whether "
                         f"it answers a tool result) + embedding(previous assistant turn + last user message + "
                         f"tool result, without template lines, at most max_chars), normalised",
        "closed_label_max": options.closed_label_max,
        "closed_label_coverage": options.closed_label_coverage,
        "merge_by_structure": options.merge_by_structure,
    }
