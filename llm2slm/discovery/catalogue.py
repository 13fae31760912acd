"""The task catalogue and the per-call assignments, written atomically (`llm2slm.common.files`).

`catalogue.json`: {"tasks": [...], "n_calls", "n_outliers", "params"} with sorted keys and two-space indents, so
the same discovery gives the same bytes. Assignments: Parquet with columns id, task_id, probability, sorted by
id. A scatter of the calls (the first two UMAP dimensions) coloured by task goes next to the catalogue.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel

from llm2slm.common.files import atomic_path, write_json

OUTLIER = "none"
ASSIGNMENT_SCHEMA = pa.schema([("id", pa.string()), ("task_id", pa.string()), ("probability", pa.float64())])


class Exemplar(BaseModel):
    id: str
    text: str


class TaskEntry(BaseModel):
    task_id: str
    name: str
    keywords: list[str]
    size: int
    exemplars: list[Exemplar]
    output_shape: str
    n_distinct_answers: int
    tokens: dict[str, dict[str, int]]
    instructions: list[str] = []  # the wordings of its instruction template in the last message, largest first
    answer_schema: str = ""  # e.g. "JSON {intent}", "labels (79)", "tool calls (704 tools)"
    last_role: str = "user"  # the role of the message its calls end with: "user" or "tool"
    routing_safe: bool = True  # False: the request alone does not tell it from `confused_with` (stays on the LLM)
    confused_with: list[str] = []


class Catalogue(BaseModel):
    tasks: list[TaskEntry]
    n_calls: int
    n_outliers: int
    params: dict[str, Any]


def task_id_for(rank: int) -> str:
    return f"task-{rank:02d}"


def write_catalogue(catalogue: Catalogue, path: Path) -> None:
    write_json(path, catalogue.model_dump(mode="json"))


def read_catalogue(path: Path) -> Catalogue:
    return Catalogue.model_validate_json(Path(path).read_text(encoding="utf-8"))


def write_assignments(ids: list[str], task_ids: list[str], probabilities: np.ndarray, path: Path) -> None:
    order = sorted(range(len(ids)), key=lambda i: ids[i])
    table = pa.table({"id": [ids[i] for i in order], "task_id": [task_ids[i] for i in order],
                      "probability": [round(float(probabilities[i]), 6) for i in order]}, schema=ASSIGNMENT_SCHEMA)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def read_assignments(path: Path) -> dict[str, str]:
    """{call id: task id} of an assignments file."""
    rows = pq.read_table(path, columns=["id", "task_id"]).to_pylist()
    return {row["id"]: row["task_id"] for row in rows}


def plot_tasks(coords: np.ndarray, task_ids: list[str], path: Path, title: str) -> None:
    """A small PNG scatter of the calls (first two columns of `coords`) coloured by task; outliers in grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = np.array(task_ids)
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=100)
    try:
        tasks = sorted((t for t in set(task_ids) if t != OUTLIER), key=lambda t: (len(t), t))
        cmap = plt.get_cmap("tab10" if len(tasks) <= 10 else "tab20")
        for rank, task in enumerate(tasks):
            mask = labels == task
            ax.scatter(coords[mask, 0], coords[mask, 1], s=3, color=cmap(rank % cmap.N),
                       label=f"{task} ({mask.sum()})")
        mask = labels == OUTLIER
        if mask.any():
            ax.scatter(coords[mask, 0], coords[mask, 1], s=3, color="#bbbbbb", label=f"none ({mask.sum()})")
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        if task_ids:
            ax.legend(fontsize=6, markerscale=3, loc="best", frameon=False)
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", metadata={"Software": None})
    finally:
        plt.close(fig)
