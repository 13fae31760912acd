"""Stable task ids across runs: a registry of every id ever given out, with its task's centroid.

A task's centroid is the unit-length mean of its calls' embeddings (the 384-d MiniLM space, not UMAP's, which
changes from one fit to the next). A new run's tasks are matched one-to-one to the registered tasks by the
cosine similarity of their centroids (the Hungarian method over the pairs at or above a threshold): a matched
task keeps its id and the registry takes its new centroid; an unmatched task gets the next free number. Ids are
never reused: a registered task that this run did not find keeps its entry (and its id) for later runs.

The registry is a JSON file (sorted keys, centroids rounded to 6 decimals): the same run on the same input
gives the same bytes, and a re-run on the same calls matches every task to itself.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from llm2slm.common.files import atomic_write_text
from llm2slm.discovery.catalogue import task_id_for

log = logging.getLogger("llm2slm.cluster")

REGISTRY_VERSION = 1
CENTROID_DECIMALS = 6


class RegisteredTask(BaseModel):
    task_id: str
    name: str
    size: int
    centroid: list[float]


class Registry(BaseModel):
    version: int = REGISTRY_VERSION
    embedding: str = ""
    next_id: int = 0
    tasks: list[RegisteredTask] = []


def task_number(task_id: str) -> int:
    """The number in `task-NN`, for sorting ids numerically."""
    return int(task_id.rsplit("-", 1)[-1])


def read_registry(path: Path) -> Registry:
    """The registry at `path`, or an empty one when the file does not exist."""
    path = Path(path)
    if not path.is_file():
        return Registry()
    try:
        return Registry.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path}: not a task-id registry ({exc}); move it away to start numbering afresh") from exc


def write_registry(registry: Registry, path: Path) -> None:
    text = json.dumps(registry.model_dump(mode="json"), indent=1, sort_keys=True) + "\n"
    atomic_write_text(path, text)


def unit_centroid(embeddings: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The unit-length mean of the rows' embeddings, rounded as the registry stores it."""
    mean = embeddings[rows].astype(np.float64).mean(axis=0)
    mean /= max(float(np.linalg.norm(mean)), 1e-12)
    return np.round(mean, CENTROID_DECIMALS)


def _similarities(centroids: np.ndarray, registered: np.ndarray) -> np.ndarray:
    a = centroids / np.linalg.norm(centroids, axis=1, keepdims=True).clip(min=1e-12)
    b = registered / np.linalg.norm(registered, axis=1, keepdims=True).clip(min=1e-12)
    return a @ b.T


def match_to_registry(centroids: np.ndarray, registry: Registry, embedding: str,
                      min_similarity: float) -> list[int | None]:
    """For each new centroid (rows in rank order), the index of its registered task, or None."""
    n = centroids.shape[0]
    if not registry.tasks or n == 0:
        return [None] * n
    registered = np.array([t.centroid for t in registry.tasks], dtype=np.float64)
    if registry.embedding != embedding or registered.shape[1] != centroids.shape[1]:
        log.warning("task ids: the registry was built with embedding %r (%d dims), this run uses %r (%d dims): "
                    "no task can be matched, every task gets a new id", registry.embedding, registered.shape[1],
                    embedding, centroids.shape[1])
        return [None] * n
    from scipy.optimize import linear_sum_assignment

    similarity = _similarities(centroids, registered)
    cost = np.where(similarity >= min_similarity, -similarity, 1e6)
    rows, cols = linear_sum_assignment(cost)
    matched: list[int | None] = [None] * n
    for row, col in zip(rows, cols, strict=True):
        if similarity[row, col] >= min_similarity:
            matched[row] = int(col)
    return matched


def assign_ids(centroids: np.ndarray, names: list[str], sizes: list[int], registry: Registry, embedding: str,
               min_similarity: float) -> tuple[list[str], Registry]:
    """Task ids for the new tasks (rows in rank order: largest first) and the updated registry."""
    matched = match_to_registry(centroids, registry, embedding, min_similarity)
    entries = {t.task_id: t for t in registry.tasks}
    next_id = registry.next_id
    ids: list[str] = []
    for row, index in enumerate(matched):
        if index is None:
            task_id, next_id = task_id_for(next_id), next_id + 1
        else:
            task_id = registry.tasks[index].task_id
        ids.append(task_id)
        entries[task_id] = RegisteredTask(task_id=task_id, name=names[row], size=sizes[row],
                                          centroid=[round(float(x), CENTROID_DECIMALS) for x in centroids[row]])
    kept = sum(i is not None for i in matched)
    log.info("task ids: %d tasks kept their id (centroid cosine >= %.2f), %d new; %d registered tasks not found "
             "in this run", kept, min_similarity, len(ids) - kept, len(registry.tasks) - kept)
    updated = Registry(embedding=embedding, next_id=next_id,
                       tasks=sorted(entries.values(), key=lambda t: task_number(t.task_id)))
    return ids, updated
