"""The window joins the datasets: its curated calls are added to the snapshot, its assignments (the saved
assigner's, then the new tasks') to the task assignments, and the catalogue gets the new tasks and every task's
size recounted. A call already in the snapshot (same id) keeps its earlier record and task: a retrain never moves
a call the champion was trained or tested on. Splits stay a function of the call id (`discovery.split`), so an old
call keeps its part and a new call's part is drawn the same way for every later run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from llm2slm.common.schema import CallRecord
from llm2slm.discovery.catalogue import OUTLIER, Catalogue, TaskEntry


def merge_records(old: list[CallRecord], window: list[CallRecord]) -> list[CallRecord]:
    """The snapshot's calls, then the window's calls whose id it does not hold."""
    seen = {r.id for r in old}
    return old + [r for r in window if r.id not in seen]


def merge_assignments(old: Mapping[str, str], window: Mapping[str, str],
                      placed: Mapping[str, str]) -> dict[str, str]:
    """{call id: task id}: the old assignments, then the window's (a `none` call the new-task discovery placed
    takes that task)."""
    merged = dict(old)
    for call_id, task in window.items():
        if call_id not in merged:
            merged[call_id] = placed.get(call_id, task) if task == OUTLIER else task
    return merged


def merged_catalogue(catalogue: Catalogue, new_tasks: list[TaskEntry], assignments: Mapping[str, str]) -> Catalogue:
    """The known tasks in their order, then the new ones; sizes and outliers counted on `assignments`."""
    sizes = Counter(assignments.values())
    known = {t.task_id for t in catalogue.tasks}
    tasks = [t.model_copy(update={"size": sizes.get(t.task_id, 0)})
             for t in [*catalogue.tasks, *(t for t in new_tasks if t.task_id not in known)]]
    return catalogue.model_copy(update={"tasks": tasks, "n_calls": len(assignments),
                                        "n_outliers": sizes.get(OUTLIER, 0)})


def window_counts(assignments: Mapping[str, str], ids: list[str]) -> dict[str, int]:
    """Calls per task among `ids`."""
    return dict(sorted(Counter(assignments[i] for i in ids if i in assignments).items()))
