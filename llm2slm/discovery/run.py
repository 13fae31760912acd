"""S3 in memory, with what the stage writes: the tasks, the catalogue, the assigner and a summary of the run.

`discover_and_fit` runs discovery (ids kept from the registry of earlier runs), fits the assigner that places
new calls in a task or `none`, and builds the catalogue; `tasks/cluster.py` writes the result.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pydantic import BaseModel

from llm2slm.common.config import ClusterConfig
from llm2slm.common.schema import CallRecord
from llm2slm.discovery.assigner import Assigner, fit_assigner
from llm2slm.discovery.catalogue import Catalogue
from llm2slm.discovery.ids import Registry
from llm2slm.discovery.pipeline import Discovery, Options, discover

log = logging.getLogger("llm2slm.cluster")


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
    """Discover the tasks of `records`, fit the assigner on them and summarise."""
    if not records:
        raise ValueError("the curated snapshot is empty: there are no calls to discover tasks in")
    found = discover(records, cfg, options, registry=registry)
    catalogue = Catalogue(tasks=found.tasks, n_calls=len(found.ids), n_outliers=found.n_outliers,
                          params=found.params)
    by_id = {r.id: r for r in records}
    assigner = fit_assigner(found.embeddings, [by_id[i] for i in found.ids], found.task_ids, cfg.embedding_model,
                            cfg.max_chars, cfg.assign_coverage, cfg.structure_threshold)
    result = DiscoveryResult(n_calls=len(found.ids), n_tasks=len(found.tasks), n_outliers=found.n_outliers,
                             task_sizes={t.task_id: t.size for t in found.tasks},
                             timings=Timings(**{k: round(v, 3) for k, v in found.timings.items()}))
    log.info("discovered %d tasks in %d calls (%d outliers): %s", result.n_tasks, result.n_calls,
             result.n_outliers, result.task_sizes)
    return Discovered(found=found, catalogue=catalogue, assigner=assigner, result=result)
