"""New tasks among unassigned calls and the assigner extended with them (real MiniLM, UMAP and HDBSCAN on the
synthetic trace): the known tasks keep their ids and their placements, the new agent gets a fresh id."""

from __future__ import annotations

from collections import Counter

import pytest

from llm2slm.common.config import ClusterConfig
from llm2slm.discovery.ids import Registry
from llm2slm.discovery.pipeline import Options
from llm2slm.discovery.run import discover_and_fit
from llm2slm.retraining.refit import extend_assigner, find_new_tasks, summary
from tests.discovery.synthetic import trace

CFG = ClusterConfig()
OPTIONS = Options(progress=False)


@pytest.fixture(scope="module")
def known():
    records, kinds = trace({"triage": 120, "extract": 100}, seed=2)
    done = discover_and_fit(records, CFG, OPTIONS, Registry())
    return done, records, kinds


@pytest.fixture(scope="module")
def later():
    records, kinds = trace({"tools": 90, "triage": 30}, seed=3)
    return [r.model_copy(update={"id": f"late-{r.id}"}) for r in records], kinds


def test_the_known_assigner_sends_the_new_agent_to_none(known, later):
    done, _, _ = known
    records, _ = later
    placed = Counter(t for t, _ in done.assigner.assign(records, by_structure=True))
    assert placed["none"] == 90 and sum(placed.values()) == 120


def test_a_new_agent_becomes_a_task_with_a_fresh_id_and_known_ids_stay(known, later):
    done, old_records, _ = known
    records, _ = later
    known_ids = done.assigner.task_ids
    unassigned = [r for r, (t, _) in zip(records, done.assigner.assign(records, by_structure=True), strict=True)
                  if t == "none"]
    found = find_new_tasks(unassigned, done.assigner, CFG, OPTIONS, done.found.registry, min_calls=50)
    assert [e.task_id for e in found.entries] == [f"task-{len(known_ids):02d}"]
    assert summary(found).new == {found.entries[0].task_id: 90} and found.small == {}
    assert {t.task_id for t in found.registry.tasks} == {*known_ids, found.entries[0].task_id}
    labels = {r.id: t for r, t in zip(old_records, [a for a, _ in done.assigner.assign(old_records)], strict=True)}
    labels.update(found.placed)
    merged = old_records + unassigned
    extended = extend_assigner(done.assigner, found.assigner, merged, [labels.get(r.id, "none") for r in merged])
    assert extended.task_ids == [*known_ids, found.entries[0].task_id]
    before = [t for t, _ in done.assigner.assign(records, by_structure=True)]
    after = [t for t, _ in extended.assign(records, by_structure=True)]
    for record, was, now in zip(records, before, after, strict=True):
        assert now == found.placed.get(record.id, was), record.id  # the new agent's calls go to the new task
    old_after = [t for t, _ in extended.assign(old_records[:40], by_structure=True)]
    assert old_after == [labels[r.id] for r in old_records[:40]]


def test_too_few_unassigned_calls_make_no_task(known, later):
    done, _, _ = known
    records, _ = later
    found = find_new_tasks(records[:20], done.assigner, CFG, OPTIONS, done.found.registry, min_calls=50)
    assert found.entries == [] and found.assigner is None
    assert extend_assigner(done.assigner, None, [], []) is done.assigner
