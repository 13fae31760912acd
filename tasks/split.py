"""Stage: split each discovered task's calls into train/val/test, in the chat format the trainers read.

Output folder layout: `<out>/<task_id>/{train,val,test}.jsonl`, each line
`{"id", "messages", "tools", "answer"}` where `answer` is the LLM's answer as canonical text; plus
`<out>/index.json` with the counts. Calls assigned to no task (`none`) stay with the LLM and are not written.
The whole folder is built under a temporary name and renamed into place.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq
from prefect import task
from pydantic import BaseModel

from llm2slm.common.config import SplitConfig
from llm2slm.common.schema import CallRecord
from llm2slm.common.snapshot import read_snapshot

log = logging.getLogger("llm2slm.split")


class TaskSplit(BaseModel):
    task_id: str
    train: int
    val: int
    test: int


def to_example(record: CallRecord) -> dict:
    return {
        "id": record.id,
        "messages": [m.model_dump(exclude_none=True) for m in record.messages],
        "tools": [t.model_dump(exclude_none=True) for t in record.tools] if record.tools else None,
        "answer": record.answer_text(),
    }


def split_ids(ids: list[str], cfg: SplitConfig) -> dict[str, list[str]]:
    """Shuffle with the seed, then cut: test and val get at least one call each when there are 3 or more."""
    order = sorted(ids)
    random.Random(cfg.seed).shuffle(order)
    n = len(order)
    n_test = max(1, round(n * cfg.test_fraction)) if n >= 3 else 0
    n_val = max(1, round(n * cfg.val_fraction)) if n >= 3 and cfg.val_fraction > 0 else 0
    return {"test": order[:n_test], "val": order[n_test:n_test + n_val], "train": order[n_test + n_val:]}


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows))


@task(name="split")
def split_tasks(curated: Path, assignments: Path, out: Path, cfg: SplitConfig) -> list[TaskSplit]:
    records = {r.id: r for r in read_snapshot(curated)}
    table = pq.read_table(assignments, columns=["id", "task_id"]).to_pylist()
    by_task: dict[str, list[str]] = defaultdict(list)
    for row in table:
        if row["task_id"] != "none" and row["id"] in records:
            by_task[row["task_id"]].append(row["id"])
    if not by_task:
        raise ValueError(f"{assignments} assigns no call to a task: nothing to split")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    summary: list[TaskSplit] = []
    try:
        for task_id in sorted(by_task):
            parts = split_ids(by_task[task_id], cfg)
            folder = staging / task_id
            folder.mkdir()
            for name, ids in parts.items():
                _write_jsonl(folder / f"{name}.jsonl", [to_example(records[i]) for i in ids])
            summary.append(TaskSplit(task_id=task_id, **{k: len(v) for k, v in parts.items()}))
        (staging / "index.json").write_text(
            json.dumps([s.model_dump() for s in summary], indent=2, sort_keys=True) + "\n")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("split %d tasks into %s", len(summary), out)
    return summary


def read_split(task_dir: Path, part: str) -> list[dict]:
    path = Path(task_dir) / f"{part}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
