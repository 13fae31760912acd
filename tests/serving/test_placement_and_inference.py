"""Placing live requests by structure, reloading a new assigner, and the batching inference thread."""

from __future__ import annotations

import threading
import time

import pytest

from llm2slm.common.schema import Message, Tool
from llm2slm.serving.inference import InferenceWorker, ShadowJob, ShadowQueue
from llm2slm.serving.placement import Placer, request_record
from tests.serving.conftest import INTENT_SYSTEM, SLOT_SYSTEM, TOOLS


def _messages(system: str, user: str) -> list[Message]:
    return [Message(role="system", content=system), Message(role="user", content=user)]


def test_requests_are_placed_by_structure_without_an_embedding(assigner):
    placer = Placer(assigner)
    tools = [Tool.model_validate(t) for t in TOOLS]
    intent = placer.place(request_record(_messages(INTENT_SYSTEM, "card?"), None), {"task-00"})
    slots = placer.place(request_record(_messages(SLOT_SYSTEM, "table for 2"), tools), {"task-00"})
    assert (intent.task_id, intent.confidence, intent.by) == ("task-00", 1.0, "structure")
    assert (slots.task_id, slots.by) == ("task-01", "structure")
    # the slot prompt without its tool passes no exclusive gate; every live task is decided by structure, so the
    # content test (an embedding) is not paid for and the call is nobody's
    stray = placer.place(request_record(_messages(SLOT_SYSTEM, "table for 2"), None), {"task-00", "task-01"})
    assert (stray.task_id, stray.by) == ("none", "none") and not placer.needs_content({"task-00", "task-01"})


def test_a_placer_reloads_when_the_cluster_stage_writes_a_new_assigner(assigner, tmp_path):
    assigner.save(tmp_path / "assigner")
    placer = Placer.load(tmp_path / "assigner")
    assert placer.reloaded() is placer
    time.sleep(0.02)
    assigner.save(tmp_path / "assigner")
    assert placer.reloaded() is not placer and placer.reloaded().assigner.task_ids == assigner.task_ids


class Echo:
    """Answers each row's user text with a confidence; records its batch sizes."""

    meta, kind = {"labels": None}, "generator"

    def __init__(self, gate: threading.Event | None = None):
        self.batches: list[int] = []
        self.gate = gate

    def predict_with_confidence(self, rows):
        if self.gate is not None:
            self.gate.wait(10)
        self.batches.append(len(rows))
        return [(row["messages"][-1]["content"], 0.5) for row in rows]


def test_waiting_calls_for_one_model_run_as_one_batch_and_get_their_own_answers():
    gate = threading.Event()
    model = Echo(gate)
    worker = InferenceWorker(max_batch=8)
    first = worker.submit(model, {"messages": [{"role": "user", "content": "q0"}]})
    time.sleep(0.1)  # the worker holds q0 at the gate; the next ten queue up behind it
    rest = [worker.submit(model, {"messages": [{"role": "user", "content": f"q{i}"}]}) for i in range(1, 11)]
    gate.set()
    assert [f.result(10) for f in [first, *rest]] == [(f"q{i}", 0.5) for i in range(11)]
    worker.stop()
    assert model.batches == [1, 8, 2] and worker.rows == 11


def test_a_full_shadow_queue_drops_the_comparison_and_counts_it():
    gate = threading.Event()
    worker = InferenceWorker(max_batch=4)
    shadow = ShadowQueue(worker, size=2)
    results: list = []
    model = Echo(gate)
    offered = [shadow.offer(ShadowJob(model, {"messages": [{"role": "user", "content": f"s{i}"}]}, f"s{i}",
                                      lambda a, c, e: results.append(a))) for i in range(6)]
    gate.set()
    shadow.join()
    shadow.stop()
    worker.stop()
    assert offered.count(False) == shadow.dropped >= 1  # at most 2 wait while one runs
    assert sorted(results) == sorted(f"s{i}" for i, ok in enumerate(offered) if ok)


def test_a_raising_model_fails_only_its_own_calls():
    class Broken(Echo):
        def predict_with_confidence(self, rows):
            raise RuntimeError("boom")

    worker = InferenceWorker()
    with pytest.raises(RuntimeError, match="boom"):
        worker.submit(Broken(), {"messages": [{"role": "user", "content": "x"}]}).result(10)
    assert worker.submit(Echo(), {"messages": [{"role": "user", "content": "y"}]}).result(10) == ("y", 0.5)
    worker.stop()
