"""Stage S3: discover the recurring tasks in the curated calls, without labels.

Reads the curated snapshot (Parquet: id, timestamp, record), writes the task catalogue (JSON), each call's task
(Parquet: id, task_id, probability; `none` for calls left to the LLM), a scatter of the calls coloured by task
(`<catalogue stem>.png`), the report (`<catalogue stem>.html`) and the assigner (`assigner.npz` + `assigner.json`)
next to the catalogue. The task-id registry (`task_registry.json`, same folder) is read first and rewritten:
it is what keeps a task's id from one run to the next, so it is a persistent output that DVC leaves in place.
Every file is written to a temporary name and renamed, so a crash leaves nothing half-written. The method is in
`llm2slm.discovery`; see its modules and docs/discovery.md.
"""

from __future__ import annotations

import logging
from pathlib import Path

from prefect import task
from pydantic import BaseModel

from llm2slm.common.config import ClusterConfig
from llm2slm.discovery.assigner import fit_assigner
from llm2slm.discovery.catalogue import Catalogue, plot_tasks, read_assignments, write_assignments, write_catalogue
from llm2slm.discovery.ids import read_registry, write_registry
from llm2slm.discovery.pipeline import Options, discover
from llm2slm.discovery.report import write_report
from llm2slm.common.snapshot import read_snapshot

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


def plot_path(catalogue_out: Path) -> Path:
    return Path(catalogue_out).with_suffix(".png")


def report_path(catalogue_out: Path) -> Path:
    return Path(catalogue_out).with_suffix(".html")


def assigner_stem(catalogue_out: Path) -> Path:
    """`assigner` next to the catalogue: `assigner.npz` and `assigner.json`."""
    return Path(catalogue_out).parent / "assigner"


def registry_path(catalogue_out: Path) -> Path:
    return Path(catalogue_out).parent / "task_registry.json"


def run_discovery(curated: Path, catalogue_out: Path, assignments_out: Path, cfg: ClusterConfig,
                  options: Options | None = None) -> DiscoveryResult:
    """The stage without Prefect: read, discover (ids from the registry), fit the assigner, write, summarise."""
    records = read_snapshot(curated)
    if not records:
        raise ValueError(f"the curated snapshot {curated} is empty: there are no calls to discover tasks in")
    found = discover(records, cfg, options, registry=read_registry(registry_path(catalogue_out)))
    catalogue = Catalogue(tasks=found.tasks, n_calls=len(found.ids), n_outliers=found.n_outliers,
                          params=found.params)
    by_id = {r.id: r for r in records}
    assigner = fit_assigner(found.embeddings, [by_id[i] for i in found.ids], found.task_ids, cfg.embedding_model,
                            cfg.max_chars, cfg.assign_coverage, cfg.structure_threshold)
    write_assignments(found.ids, found.task_ids, found.probabilities, assignments_out)
    plot_tasks(found.coords, found.task_ids, plot_path(catalogue_out),
               f"{len(found.tasks)} tasks in {len(found.ids)} calls ({found.n_outliers} outliers)")
    write_report(catalogue, plot_path(catalogue_out), report_path(catalogue_out))
    assigner.save(assigner_stem(catalogue_out))
    write_catalogue(catalogue, catalogue_out)
    write_registry(found.registry, registry_path(catalogue_out))
    result = DiscoveryResult(n_calls=len(found.ids), n_tasks=len(found.tasks), n_outliers=found.n_outliers,
                             task_sizes={t.task_id: t.size for t in found.tasks},
                             timings=Timings(**{k: round(v, 3) for k, v in found.timings.items()}))
    log.info("discovered %d tasks in %d calls (%d outliers): %s -> %s, %s", result.n_tasks, result.n_calls,
             result.n_outliers, result.task_sizes, catalogue_out, assignments_out)
    return result


@task(name="cluster")
def discover_tasks(curated: Path, catalogue_out: Path, assignments_out: Path, cfg: ClusterConfig) -> DiscoveryResult:
    """Discover the tasks in the curated snapshot; write the catalogue, the assignments and the scatter."""
    return run_discovery(curated, catalogue_out, assignments_out, cfg)


def adjusted_rand(assignments: Path, answer_key: dict[str, str]) -> float:
    """Adjusted Rand index of the discovered tasks against known task kinds, over the calls in both
    (outliers count as one more group)."""
    from sklearn.metrics import adjusted_rand_score

    found = read_assignments(assignments)
    common = sorted(set(found) & set(answer_key))
    if not common:
        raise ValueError(f"no call of {assignments} is in the answer key: cannot compare")
    return float(adjusted_rand_score([answer_key[i] for i in common], [found[i] for i in common]))
