"""A call's split is a function of its id alone: new calls never move old ones."""

from collections import Counter

import pytest

from llm2slm.common.config import SplitConfig
from llm2slm.discovery.split import split_ids, split_of, split_tasks
from tests.factories import make_record


def test_adding_calls_never_moves_an_existing_call():
    cfg = SplitConfig()
    before = split_ids([f"call-{i:06d}" for i in range(2000)], cfg)
    after = split_ids([f"call-{i:06d}" for i in range(2000)] + [f"new-{i}" for i in range(500)], cfg)
    for part, ids in before.items():
        assert set(ids) <= set(after[part]), part
    moved = {i for part in before for i in before[part]} - {i for part in before for i in after[part] if i in
                                                             set(before[part])}
    assert not moved


def test_the_shares_follow_the_fractions_and_the_seed_reshuffles():
    cfg = SplitConfig(val_fraction=0.05, test_fraction=0.15, seed=13)
    ids = [f"call-{i:06d}" for i in range(20_000)]
    shares = Counter(split_of(i, cfg) for i in ids)
    assert shares["test"] / len(ids) == pytest.approx(0.15, abs=0.01)
    assert shares["val"] / len(ids) == pytest.approx(0.05, abs=0.006)
    other = SplitConfig(val_fraction=0.05, test_fraction=0.15, seed=14)
    changed = sum(split_of(i, cfg) != split_of(i, other) for i in ids)
    assert changed > 0.2 * len(ids)


def test_tasks_are_split_without_overlap_and_outliers_are_left_out():
    records = [make_record(i, f"q{i}", answer=f"label{i % 3}") for i in range(200)]
    assignments = {r.id: ("task-00" if i % 2 else "task-01") for i, r in enumerate(records)}
    assignments[records[0].id] = "none"
    splits = split_tasks(records, assignments, SplitConfig())
    assert list(splits) == ["task-00", "task-01"]
    ids = [row["id"] for part in splits["task-01"].values() for row in part]
    assert len(ids) == len(set(ids)) == 99 and records[0].id not in ids
    assert set(splits["task-01"]["train"][0]) == {"id", "messages", "tools", "answer"}
    with pytest.raises(ValueError, match="no call in a task"):
        split_tasks(records, {r.id: "none" for r in records}, SplitConfig())
