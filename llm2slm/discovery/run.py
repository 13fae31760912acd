"""S3 in memory, with what the stage writes: the tasks, the catalogue, the assigner and a summary of the run.

`discover_and_fit` runs discovery (ids kept from the registry of earlier runs), fits the assigner that places
new calls in a task or `none`, checks that the request alone tells the tasks apart (`routing_confusion`), and
builds the catalogue; `tasks/cluster.py` writes the result.

Routing-safe: a router sees the request, never the answer. The fitted assigner places every discovered call from
its request as the router does (by structure when one task's exclusive gate alone admits it, by content
otherwise); when at least `CONFUSION_SHARE` of one task's calls land in another, what separates the two is in
their answers only (one instruction answered with two schemas, say). Both are marked `routing_safe: false` with
each other in `confused_with`, the report says so, and selection keeps them on the LLM rather than guess.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pydantic import BaseModel

from llm2slm.common.config import ClusterConfig
from llm2slm.common.schema import CallRecord
from llm2slm.discovery.assigner import Assigner, fit_assigner
from llm2slm.discovery.catalogue import OUTLIER, Catalogue, TaskEntry
from llm2slm.discovery.ids import Registry
from llm2slm.discovery.pipeline import Discovery, Options, discover

log = logging.getLogger("llm2slm.cluster")

CONFUSION_SHARE = 0.05


class Timings(BaseModel):
    embed_s: float
    umap_s: float
    hdbscan_s: float


class DiscoveryResult(BaseModel):
    n_calls: int
    n_tasks: int
    n_outliers: int
    task_sizes: dict[str, int]
    timings: Timings


@dataclass
class Discovered:
    found: Discovery
    catalogue: Catalogue
    assigner: Assigner
    result: DiscoveryResult

    @property
    def plot_title(self) -> str:
        return f"{self.result.n_tasks} tasks in {self.result.n_calls} calls ({self.result.n_outliers} outliers)"


def discover_and_fit(records: list[CallRecord], cfg: ClusterConfig, options: Options,
                     registry: Registry) -> Discovered:
    """Discover the tasks of `records`, fit the assigner on them and summarise; above `cfg.discover_max_calls`,
    on a stable sample, with the other calls placed by the assigner (`discovery.scale`)."""
    if not records:
        raise ValueError("the curated snapshot is empty: there are no calls to discover tasks in")
    if len(records) > cfg.discover_max_calls:
        from llm2slm.discovery.scale import place_rest, stable_sample

        sample, rest = stable_sample(records, cfg.discover_max_calls, cfg.seed)
        log.info("%d calls: tasks are discovered on a stable sample of %d (cluster.discover_max_calls), the other "
                 "%d placed by the assigner", len(records), len(sample), len(rest))
        return place_rest(discover_and_fit(sample, cfg, options, registry), rest, options.progress)
    found = discover(records, cfg, options, registry=registry)
    by_id = {r.id: r for r in records}
    ordered = [by_id[i] for i in found.ids]
    assigner = fit_assigner(found.embeddings, ordered, found.task_ids, cfg.embedding_model, cfg.max_chars,
                            cfg.assign_coverage, cfg.structure_threshold, found.templates)
    placed = [task for task, _ in assigner.assign_embeddings(found.embeddings, ordered, by_structure=True)]
    tasks = mark_unroutable(found.tasks, routing_confusion(found.task_ids, placed))
    catalogue = Catalogue(tasks=tasks, n_calls=len(found.ids), n_outliers=found.n_outliers, params=found.params)
    result = DiscoveryResult(n_calls=len(found.ids), n_tasks=len(found.tasks), n_outliers=found.n_outliers,
                             task_sizes={t.task_id: t.size for t in found.tasks},
                             timings=Timings(**{k: round(v, 3) for k, v in found.timings.items()}))
    log.info("discovered %d tasks in %d calls (%d outliers): %s", result.n_tasks, result.n_calls,
             result.n_outliers, result.task_sizes)
    return Discovered(found=found, catalogue=catalogue, assigner=assigner, result=result)


def routing_confusion(task_ids: list[str], placed: list[str]) -> dict[tuple[str, str], float]:
    """{(task, other): share of the task's calls the request-only assigner places in the other task}, for the
    pairs at or above `CONFUSION_SHARE`."""
    from collections import Counter

    sizes = Counter(t for t in task_ids if t != OUTLIER)
    pairs = Counter((t, p) for t, p in zip(task_ids, placed, strict=True) if t != OUTLIER and p not in (t, OUTLIER))
    return {pair: n / sizes[pair[0]] for pair, n in sorted(pairs.items()) if n >= CONFUSION_SHARE * sizes[pair[0]]}


def mark_unroutable(tasks: list[TaskEntry], confusion: dict[tuple[str, str], float]) -> list[TaskEntry]:
    """The tasks with `routing_safe` and `confused_with` set from the confused pairs (both sides of each)."""
    partners: dict[str, set[str]] = {}
    for (task, other), share in confusion.items():
        partners.setdefault(task, set()).add(other)
        partners.setdefault(other, set()).add(task)
        log.warning("routing: the request places %.1f%% of %s's calls in %s: only their answers tell them apart; "
                    "both stay on the LLM", 100 * share, task, other)
    return [t.model_copy(update={"routing_safe": t.task_id not in partners,
                                 "confused_with": sorted(partners.get(t.task_id, ()))}) for t in tasks]
