"""Discovery of a large window: tasks found on a stable sample, the other calls placed by the fitted assigner.

Embedding is what discovery spends its time on (about 7 ms of CPU per distinct text here), so a window of a million
calls is not embedded whole. Above `cluster.discover_max_calls`, the calls whose keyed hash of the id (BLAKE2b with
`cluster.seed`, as the split uses) is smallest form the sample: the same calls each time, and a call already in the
sample stays in it unless the window grows past it. Discovery and the assigner run on the sample; each other call
is placed from its request (`Assigner.assign(..., by_structure=True)`: a call whose structure names one task is
not even embedded). The catalogue's sizes and the outlier count are then recounted over all the calls; exemplars,
token percentiles and names come from the sample.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter

import numpy as np

from llm2slm.common.schema import CallRecord
from llm2slm.discovery.catalogue import OUTLIER
from llm2slm.discovery.split import split_point

log = logging.getLogger("llm2slm.cluster")


def stable_sample(records: list[CallRecord], size: int, seed: int) -> tuple[list[CallRecord], list[CallRecord]]:
    """(the `size` calls with the smallest keyed hash of their id, the others), each in call-id order."""
    ranked = sorted(records, key=lambda r: (split_point(r.id, seed), r.id))
    sample, rest = ranked[:size], ranked[size:]
    return sorted(sample, key=lambda r: r.id), sorted(rest, key=lambda r: r.id)


def place_rest(discovered, rest: list[CallRecord], progress: bool):
    """`discovered` (a `run.Discovered` on the sample) extended to the `rest` of the calls, placed by its
    assigner; sizes, outliers and the result recounted over all calls."""
    placed = discovered.assigner.assign(rest, progress=progress, by_structure=True)
    found = discovered.found
    by_id = dict(zip(found.ids, zip(found.task_ids, found.probabilities, strict=True), strict=True))
    by_id.update({r.id: (task, confidence) for r, (task, confidence) in zip(rest, placed, strict=True)})
    ids = sorted(by_id)
    task_ids = [by_id[i][0] for i in ids]
    coords = np.full((len(ids), 2), np.nan)  # the scatter shows the sample: placed calls have no UMAP point
    sampled = {call_id: row for row, call_id in enumerate(found.ids)}
    for row, call_id in enumerate(ids):
        if call_id in sampled:
            coords[row] = found.coords[sampled[call_id]]
    sizes = Counter(task_ids)
    tasks = [t.model_copy(update={"size": sizes.get(t.task_id, 0)}) for t in discovered.catalogue.tasks]
    found = dataclasses.replace(found, ids=ids, task_ids=task_ids, coords=coords,
                                probabilities=np.array([by_id[i][1] for i in ids], dtype=np.float64))
    catalogue = discovered.catalogue.model_copy(update={
        "tasks": tasks, "n_calls": len(ids), "n_outliers": sizes.get(OUTLIER, 0),
        "params": {**discovered.catalogue.params, "discovered_on": len(sampled), "placed_by_assigner": len(rest)}})
    result = discovered.result.model_copy(update={
        "n_calls": len(ids), "n_outliers": sizes.get(OUTLIER, 0),
        "task_sizes": {t.task_id: t.size for t in tasks}})
    log.info("placed %d more calls with the assigner: %s; %d calls in all, %d outliers", len(rest),
             dict(Counter(task for task, _ in placed)), len(ids), result.n_outliers)
    return dataclasses.replace(discovered, found=found, catalogue=catalogue, result=result)
