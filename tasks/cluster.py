"""S3: the curated snapshot in; the task catalogue, each call's task, the scatter, the report and the assigner out.

The task-id registry is read first and rewritten: it keeps a task's id from one run to the next, so DVC leaves it
in place (a persistent output). Every file is written atomically. The method is in `llm2slm.discovery`
(docs/discovery.md).
"""

from __future__ import annotations

from prefect import task

from llm2slm.common.artifacts import Artifacts
from llm2slm.common.config import Config
from llm2slm.common.snapshot import read_snapshot
from llm2slm.discovery.catalogue import TaskEntry, plot_tasks, read_catalogue, write_assignments, write_catalogue
from llm2slm.discovery.ids import read_registry, write_registry
from llm2slm.discovery.pipeline import Options
from llm2slm.discovery.report import write_report
from llm2slm.discovery.run import DiscoveryResult, discover_and_fit


@task(name="cluster")
def cluster(cfg: Config) -> DiscoveryResult:
    art = Artifacts(cfg.paths)
    done = discover_and_fit(read_snapshot(art.curated), cfg.cluster, Options.from_select(cfg.select),
                            read_registry(art.task_registry))
    found = done.found
    write_assignments(found.ids, found.task_ids, found.probabilities, art.assignments)
    plot_tasks(found.coords, found.task_ids, art.task_plot, done.plot_title)
    write_report(done.catalogue, art.task_plot, art.task_report)
    done.assigner.save(art.assigner_arrays.with_suffix(""))
    write_catalogue(done.catalogue, art.task_catalogue)
    write_registry(found.registry, art.task_registry)
    return done.result


@task(name="read-tasks")
def read_tasks(cfg: Config) -> list[TaskEntry]:
    """The discovered tasks, from the catalogue the cluster stage wrote."""
    return read_catalogue(Artifacts(cfg.paths).task_catalogue).tasks
