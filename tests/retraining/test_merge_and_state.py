"""The window joining the datasets, and the state kept between runs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from llm2slm.discovery.catalogue import Catalogue, TaskEntry
from llm2slm.retraining.merge import merge_assignments, merge_records, merged_catalogue, window_counts
from llm2slm.retraining.state import RetrainState, read_state, window_start, write_state
from tests.discovery.synthetic import trace


def _entry(task_id: str, size: int) -> TaskEntry:
    return TaskEntry(task_id=task_id, name=task_id, keywords=[], size=size, exemplars=[], output_shape="closed_label",
                     n_distinct_answers=2, tokens={})


def test_a_call_already_in_the_snapshot_keeps_its_record_and_task():
    records, _ = trace({"triage": 6}, seed=1)
    old, window = records[:4], records[2:]
    merged = merge_records(old, window)
    assert [r.id for r in merged] == [r.id for r in records]
    assert merged[2] is old[2]
    assignments = merge_assignments({r.id: "task-00" for r in old},
                                    {records[2].id: "task-01", records[4].id: "none", records[5].id: "task-00"},
                                    {records[4].id: "task-02"})
    assert assignments == {**{r.id: "task-00" for r in old}, records[4].id: "task-02", records[5].id: "task-00"}


def test_the_catalogue_keeps_known_tasks_first_and_recounts_sizes():
    catalogue = Catalogue(tasks=[_entry("task-00", 5), _entry("task-01", 3)], n_calls=9, n_outliers=1, params={})
    assignments = {"a": "task-00", "b": "task-01", "c": "task-02", "d": "none", "e": "task-02"}
    merged = merged_catalogue(catalogue, [_entry("task-02", 0), _entry("task-00", 99)], assignments)
    assert [(t.task_id, t.size) for t in merged.tasks] == [("task-00", 1), ("task-01", 1), ("task-02", 2)]
    assert (merged.n_calls, merged.n_outliers) == (5, 1)
    assert window_counts(assignments, ["c", "d", "e", "zz"]) == {"none": 1, "task-02": 2}


def test_the_window_starts_at_the_watermark_else_after_the_last_converted_call(tmp_path):
    last = datetime(2026, 10, 7, 22, 18, tzinfo=timezone.utc)
    assert window_start(RetrainState(), last) == last + timedelta(microseconds=1)
    assert window_start(RetrainState(), None) is None
    state = RetrainState(watermark=last + timedelta(days=1), trained_sizes={"task-00": 300},
                         pending={"task-01": ["inputs shifted"]}, last_run="r1")
    write_state(tmp_path / "state.json", state)
    again = read_state(tmp_path / "state.json")
    assert again == state and window_start(again, last) == last + timedelta(days=1)
    assert read_state(tmp_path / "missing.json") == RetrainState()


def test_a_corrupt_state_file_is_refused_by_name(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="state.json: not a retrain state file"):
        read_state(path)
