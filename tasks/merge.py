"""The retrain flow's S3 for what is new: tasks discovered among the window's unassigned calls, then the window
joined to the datasets (`llm2slm.retraining.merge`): the curated snapshot, the task assignments, the catalogue
(new tasks appended, sizes recounted), the task-id registry and the assigner extended with the new tasks, every
known task id kept (`llm2slm.retraining.refit`). Every file is written atomically; the split stage runs next."""

from __future__ import annotations

import logging

import numpy as np
import pyarrow.parquet as pq
from prefect import task

from llm2slm.common.artifacts import Artifacts
from llm2slm.common.config import Config
from llm2slm.common.snapshot import read_snapshot, write_snapshot
from llm2slm.discovery.assigner import load_assigner
from llm2slm.discovery.catalogue import OUTLIER, read_assignments, read_catalogue, write_assignments, write_catalogue
from llm2slm.discovery.ids import read_registry, write_registry
from llm2slm.discovery.pipeline import Options
from llm2slm.discovery.report import write_report
from llm2slm.retraining.merge import merge_assignments, merge_records, merged_catalogue
from llm2slm.retraining.refit import NewTaskSummary, extend_assigner, find_new_tasks, summary

log = logging.getLogger("llm2slm.retrain")


def _confidences(paths) -> dict[str, float]:
    """{call id: confidence} over assignments files (the later file wins)."""
    out: dict[str, float] = {}
    for path in paths:
        for row in pq.read_table(path, columns=["id", "probability"]).to_pylist():
            out[row["id"]] = row["probability"]
    return out


@task(name="add-window")
def add_window(cfg: Config) -> NewTaskSummary:
    art = Artifacts(cfg.paths)
    known = load_assigner(art.assigner_arrays)
    window, window_tasks = read_snapshot(art.window_curated), read_assignments(art.window_assignments)
    old, old_tasks = read_snapshot(art.curated), read_assignments(art.assignments)
    unassigned = [r for r in window if window_tasks.get(r.id) == OUTLIER and r.id not in old_tasks]
    found = find_new_tasks(unassigned, known, cfg.cluster, Options.from_select(cfg.select),
                           read_registry(art.task_registry), cfg.retrain.min_new_task_calls)
    records = merge_records(old, window)
    assignments = merge_assignments(old_tasks, window_tasks, found.placed)
    catalogue = merged_catalogue(read_catalogue(art.task_catalogue), found.entries, assignments)
    assigner = extend_assigner(known, found.assigner, records, [assignments.get(r.id, OUTLIER) for r in records])
    confidence = {**_confidences([art.assignments, art.window_assignments]), **{i: 1.0 for i in found.placed}}
    ids = sorted(assignments)
    write_snapshot(records, art.curated)
    write_assignments(ids, [assignments[i] for i in ids], np.array([confidence.get(i, 0.0) for i in ids]),
                      art.assignments)
    assigner.save(art.assigner_arrays.with_suffix(""))
    write_registry(found.registry, art.task_registry)
    write_catalogue(catalogue, art.task_catalogue)
    write_report(catalogue, art.task_plot, art.task_report)
    log.info("the window joined the datasets: %d calls (%d new), %d tasks (%d new)", len(records),
             len(records) - len(old), len(catalogue.tasks), len(found.entries))
    return summary(found)
