"""New tasks among the calls no known task accepted, and the assigner refitted with them, keeping every known id.

`find_new_tasks` runs discovery (`llm2slm.discovery.run.discover_and_fit`) on the window's unassigned calls with
the task-id registry of earlier runs, so a new cluster gets a fresh id and one that matches a known task's
centroid keeps that task's id (its calls join it). A new cluster becomes a task when it has at least
`retrain.min_new_task_calls` calls; smaller ones stay unassigned, counted in the report.

`extend_assigner` keeps each known task exactly as it was fitted (centroid, thresholds, gate: the window's calls
it holds were accepted by it), appends the new tasks fitted on their own calls with the known assigner's turn
templates (one reading of the requests for every task), and recomputes which gates are exclusive over all calls.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel

from llm2slm.common.config import ClusterConfig
from llm2slm.common.schema import CallRecord
from llm2slm.discovery.assigner import Assigner, exclusive_gates, fit_assigner
from llm2slm.discovery.catalogue import OUTLIER, TaskEntry
from llm2slm.discovery.ids import Registry
from llm2slm.discovery.pipeline import Options

log = logging.getLogger("llm2slm.retrain")


@dataclass
class NewTasks:
    entries: list[TaskEntry]  # the new tasks kept (at least min_calls calls), largest first
    placed: dict[str, str]  # call id -> task id, for the unassigned calls that joined a task (new or known)
    registry: Registry  # the registry with the new tasks
    assigner: Assigner | None  # the new tasks fitted on their calls (known turn templates); None without any
    small: dict[str, int]  # clusters too small to become a task: size by discovery id (their calls stay none)


class NewTaskSummary(BaseModel):
    """What the new-task discovery found: calls per new task kept, per known task joined, per cluster too small."""

    new: dict[str, int] = {}
    joined: dict[str, int] = {}
    small: dict[str, int] = {}


def summary(found: NewTasks) -> NewTaskSummary:
    sizes = Counter(found.placed.values())
    new = {e.task_id for e in found.entries}
    return NewTaskSummary(new={t: n for t, n in sorted(sizes.items()) if t in new},
                          joined={t: n for t, n in sorted(sizes.items()) if t not in new}, small=found.small)


def find_new_tasks(unassigned: list[CallRecord], known: Assigner, cfg: ClusterConfig, options: Options,
                   registry: Registry, min_calls: int) -> NewTasks:
    """Discover tasks among `unassigned` (the window's `none` calls)."""
    from llm2slm.discovery.run import discover_and_fit

    if len(unassigned) < min_calls:
        return NewTasks([], {}, registry, None, {})
    done = discover_and_fit(unassigned, cfg, options, registry)
    found, sizes = done.found, Counter(done.found.task_ids)
    known_ids = set(known.task_ids)
    kept = [t for t in done.catalogue.tasks if t.task_id not in known_ids and sizes[t.task_id] >= min_calls]
    joins = {t for t in sizes if t in known_ids}
    keep_ids = {t.task_id for t in kept} | joins
    placed = {i: t for i, t in zip(found.ids, found.task_ids, strict=True) if t in keep_ids}
    small = {t: n for t, n in sizes.items() if t != OUTLIER and t not in keep_ids}
    registry = Registry(embedding=found.registry.embedding, next_id=found.registry.next_id,
                        tasks=[t for t in found.registry.tasks if t.task_id in known_ids or t.task_id in keep_ids])
    labels = [t if t in {e.task_id for e in kept} else OUTLIER for t in found.task_ids]
    assigner = None
    if kept:
        by_id = {r.id: r for r in unassigned}
        assigner = fit_assigner(found.embeddings, [by_id[i] for i in found.ids], labels, cfg.embedding_model,
                                cfg.max_chars, cfg.assign_coverage, cfg.structure_threshold, known.turn_templates)
    log.info("new tasks among %d unassigned calls: %s kept, %s joined known tasks, %s too small (< %d calls)",
             len(unassigned), {t.task_id: sizes[t.task_id] for t in kept}, {t: sizes[t] for t in joins}, small,
             min_calls)
    return NewTasks(kept, placed, registry, assigner, small)


def extend_assigner(known: Assigner, new: Assigner | None, records: list[CallRecord],
                    labels: list[str]) -> Assigner:
    """`known` with `new`'s tasks appended; exclusive gates recomputed on `records` (labelled by task)."""
    if new is None or not new.task_ids:
        return known
    if new.embedding_model != known.embedding_model or new.centroids.shape[1] != known.centroids.shape[1]:
        raise ValueError(f"new tasks embedded with {new.embedding_model!r}, known ones with "
                         f"{known.embedding_model!r}: refit the whole catalogue with the convert flow")
    clash = sorted(set(new.task_ids) & set(known.task_ids))
    if clash:
        raise ValueError(f"new task ids {clash} are already known tasks")
    known_tools = known.tools or [frozenset()] * len(known.task_ids)
    assigner = Assigner(
        task_ids=known.task_ids + new.task_ids, centroids=np.vstack([known.centroids, new.centroids]),
        percentiles=np.vstack([known.percentiles, new.percentiles]),
        thresholds=np.concatenate([known.thresholds, new.thresholds]), templates=known.templates + new.templates,
        offers_tools=known.offers_tools + new.offers_tools, gated=known.gated + new.gated,
        embedding_model=known.embedding_model, max_chars=known.max_chars, coverage=known.coverage,
        structure_threshold=known.structure_threshold, last_roles=known.last_roles + new.last_roles,
        instructions=known.instructions + new.instructions, exclusive=[False] * (len(known.task_ids) +
                                                                                 len(new.task_ids)),
        turn_templates=known.turn_templates, tools=known_tools + (new.tools or [frozenset()] * len(new.task_ids)))
    assigner.exclusive = exclusive_gates(assigner, records, np.array(labels))
    return assigner
