import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from llm2slm.common.config import SplitConfig
from llm2slm.common.snapshot import write_snapshot
from tasks.split import read_split, split_tasks
from tests.factories import make_record


def _inputs(tmp_path, n=40):
    records = [make_record(i, f"q{i}", answer=f"label{i % 3}") for i in range(n)]
    write_snapshot(records, tmp_path / "cur.parquet")
    tasks = ["task-00" if i % 2 else "task-01" for i in range(n)]
    tasks[0] = "none"
    pq.write_table(pa.table({"id": [r.id for r in records], "task_id": tasks}), tmp_path / "asg.parquet")
    return records


def test_each_task_is_split_without_overlap_and_outliers_are_left_out(tmp_path):
    _inputs(tmp_path)
    parts = split_tasks.fn(tmp_path / "cur.parquet", tmp_path / "asg.parquet", tmp_path / "tasks", SplitConfig())
    assert [p.task_id for p in parts] == ["task-00", "task-01"]
    ids = []
    for part in ("train", "val", "test"):
        rows = read_split(tmp_path / "tasks" / "task-01", part)
        assert rows and set(rows[0]) == {"id", "messages", "tools", "answer"}
        ids += [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) == 19 and "call-000000" not in ids
    assert json.loads((tmp_path / "tasks" / "index.json").read_text())[0]["task_id"] == "task-00"


def test_split_is_deterministic(tmp_path):
    _inputs(tmp_path)
    split_tasks.fn(tmp_path / "cur.parquet", tmp_path / "asg.parquet", tmp_path / "a", SplitConfig())
    split_tasks.fn(tmp_path / "cur.parquet", tmp_path / "asg.parquet", tmp_path / "b", SplitConfig())
    for part in ("train", "val", "test"):
        assert (tmp_path / "a/task-00" / f"{part}.jsonl").read_bytes() == (tmp_path / "b/task-00" / f"{part}.jsonl").read_bytes()


def test_nothing_assigned_is_an_error(tmp_path):
    records = _inputs(tmp_path)
    pq.write_table(pa.table({"id": [r.id for r in records], "task_id": ["none"] * len(records)}), tmp_path / "asg.parquet")
    with pytest.raises(ValueError, match="no call to a task"):
        split_tasks.fn(tmp_path / "cur.parquet", tmp_path / "asg.parquet", tmp_path / "tasks", SplitConfig())
    assert not (tmp_path / "tasks").exists()
