import json
import stat

import pytest

from llm2slm.common.snapshot import write_snapshot
from llm2slm.discovery.catalogue import write_assignments
from llm2slm.discovery.split import read_split
from tasks.split import split
from tests.factories import make_record


def _inputs(art, n=200, task_of=lambda i: "task-00" if i % 2 else "task-01"):
    records = [make_record(i, f"q{i}", answer=f"label{i % 3}") for i in range(n)]
    write_snapshot(records, art.curated)
    tasks = [task_of(i) for i in range(n)]
    tasks[0] = "none"
    write_assignments([r.id for r in records], tasks, [1.0] * n, art.assignments)
    return records


def test_the_task_writes_each_part_and_the_index(cfg, art):
    _inputs(art)
    counts = split.fn(cfg)
    assert [c.task_id for c in counts] == ["task-00", "task-01"]
    written = {part: read_split(art.tasks / "task-01", part) for part in ("train", "val", "test")}
    assert sum(len(rows) for rows in written.values()) == 99
    index = json.loads((art.tasks / "index.json").read_text())
    assert index == [c.model_dump() for c in counts] and index[1]["train"] == len(written["train"])


def test_the_splits_are_owner_only(cfg, art):
    _inputs(art)
    split.fn(cfg)
    folders = [art.tasks, *(p for p in art.tasks.rglob("*") if p.is_dir())]
    files = [p for p in art.tasks.rglob("*") if p.is_file()]
    assert len(folders) == 3 and len(files) == 7
    assert {stat.S_IMODE(p.stat().st_mode) for p in folders} == {0o700}
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o600}


def test_split_is_deterministic(cfg, art):
    _inputs(art)
    split.fn(cfg)
    first = {p: (art.tasks / "task-00" / f"{p}.jsonl").read_bytes() for p in ("train", "val", "test")}
    split.fn(cfg)
    assert first == {p: (art.tasks / "task-00" / f"{p}.jsonl").read_bytes() for p in ("train", "val", "test")}


def test_nothing_assigned_is_an_error_and_nothing_is_written(cfg, art):
    _inputs(art, task_of=lambda i: "none")
    with pytest.raises(ValueError, match="no call in a task"):
        split.fn(cfg)
    assert not art.tasks.exists()
