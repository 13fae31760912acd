"""Each task's calls into train/val/test, by a keyed hash of the call's id alone.

A call's split never depends on the other calls: adding calls to a task (the next window of traffic) never moves an
old call to another split, so a challenger is tested on calls no champion trained on, and the promotion gate
compares figures measured on the same held-out calls. The hash (BLAKE2b of the seed and the id) maps each id to a
point in [0, 1): below `test_fraction` it is a test call, below `test_fraction + val_fraction` a validation call,
else a training call. Examples are in the chat format the trainers read: `{"id", "messages", "tools", "answer"}`,
the answer being the LLM's, as canonical text.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from llm2slm.common.config import SplitConfig
from llm2slm.common.schema import CallRecord
from llm2slm.discovery.catalogue import OUTLIER

Part = Literal["train", "val", "test"]
PARTS: tuple[Part, ...] = ("train", "val", "test")
_SCALE = float(2**64)


class TaskSplit(BaseModel):
    task_id: str
    train: int
    val: int
    test: int


def split_point(call_id: str, seed: int) -> float:
    """The call's point in [0, 1): a keyed hash of its id, the same on every run and machine."""
    digest = hashlib.blake2b(call_id.encode("utf-8"), digest_size=8, key=str(seed).encode("utf-8")).digest()
    return int.from_bytes(digest, "big") / _SCALE


def split_of(call_id: str, cfg: SplitConfig) -> Part:
    point = split_point(call_id, cfg.seed)
    if point < cfg.test_fraction:
        return "test"
    if point < cfg.test_fraction + cfg.val_fraction:
        return "val"
    return "train"


def split_ids(ids: Iterable[str], cfg: SplitConfig) -> dict[Part, list[str]]:
    """{part: sorted ids}; each id's part is `split_of(id)`, whatever the other ids are."""
    parts: dict[Part, list[str]] = {part: [] for part in PARTS}
    for call_id in sorted(ids):
        parts[split_of(call_id, cfg)].append(call_id)
    return parts


def to_example(record: CallRecord) -> dict:
    return {
        "id": record.id,
        "messages": [m.model_dump(exclude_none=True) for m in record.messages],
        "tools": [t.model_dump(exclude_none=True) for t in record.tools] if record.tools else None,
        "answer": record.answer_text(),
    }


def split_tasks(records: Iterable[CallRecord], assignments: Mapping[str, str],
                cfg: SplitConfig) -> dict[str, dict[Part, list[dict]]]:
    """{task id: {part: examples}} for every call assigned to a task; calls of `none` stay with the LLM."""
    by_id = {r.id: r for r in records}
    by_task: dict[str, list[str]] = defaultdict(list)
    for call_id, task_id in assignments.items():
        if task_id != OUTLIER and call_id in by_id:
            by_task[task_id].append(call_id)
    if not by_task:
        raise ValueError("the assignments put no call in a task: nothing to split")
    return {task_id: {part: [to_example(by_id[i]) for i in ids] for part, ids in split_ids(by_task[task_id], cfg).items()}
            for task_id in sorted(by_task)}


def split_counts(splits: Mapping[str, Mapping[Part, list]]) -> list[TaskSplit]:
    return [TaskSplit(task_id=t, **{p: len(parts[p]) for p in PARTS}) for t, parts in splits.items()]


def read_split(task_dir: Path, part: Part) -> list[dict]:
    """The examples of one part of a task folder (`<task_dir>/<part>.jsonl`); [] when the part is absent."""
    path = Path(task_dir) / f"{part}.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
