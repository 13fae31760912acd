"""Replaying captured calls through the gateway against an upstream that answers with the recorded answers."""

from __future__ import annotations

from llm2slm.capture.writer import RecordWriter
from llm2slm.serving.replay import Replayed, replay_calls, replay_table
from llm2slm.testing.fake_llm import FakeLLM, ServerThread, free_port, recorded_answers
from tests.capture.conftest import running_gateway, stored
from tests.factories import make_record
from tests.serving.conftest import TOOLS


def test_each_replayed_call_gets_its_recorded_answer_and_is_captured_again(store, keyring, agent_token):
    records = [make_record(i, f"question {i}", answer=f"label_{i % 3}") for i in range(8)]
    records.append(make_record(9, "book for 2", tools=TOOLS, tool_calls=[{"name": "book_table",
                                                                          "arguments": {"people": 2}}]))
    failed = make_record(10, "broken", answer="", status="error", finish_reason="error", error="upstream HTTP 500")
    retried_ok = make_record(11, "question 0", answer="label_0")  # the same conversation as call 0, answered
    failed_twin = make_record(12, "question 0", answer="", status="error", finish_reason="error")
    recorded = recorded_answers([*records, failed, failed_twin, retried_ok])
    records.append(failed)
    upstream = ServerThread(FakeLLM(recorded=recorded), free_port()).start()
    try:
        with running_gateway(RecordWriter(store, 100, 16, 0.0), keyring, upstream.url + "/v1") as url:
            results = replay_calls(url, agent_token, records, concurrency=3)
    finally:
        upstream.stop()
    assert [r.call_id for r in results] == [r.id for r in records]
    # no router: no route header; a conversation the LLM failed on fails again, one it also answered is answered
    assert all(r.status == 200 and r.agree and r.route == "" for r in results[:-1])
    assert (results[-1].status, results[-1].route, results[-1].measurable) == (500, "error", False)
    again = sorted(stored(store), key=lambda r: r.last_user_message())
    assert sorted(r.answer_text() for r in again if r.status == "ok") == sorted(r.answer_text() for r in records[:-1])
    assert [r.status for r in again if r.last_user_message() == "broken"] == ["error"]


def test_the_table_gives_each_task_its_share_and_agreement_then_all_calls():
    results = [Replayed("a", 200, "specialist", "task-00", "m/1", True), Replayed("b", 200, "specialist", "task-00",
               "m/1", False), Replayed("c", 200, "llm", "task-00", None, True),
               Replayed("f", 200, "specialist", "task-00", "m/1", False, measurable=False),
               Replayed("d", 200, "fallback", "task-01", None, True), Replayed("e", 502, "error", "none", None, False)]
    rows = {r.task: r for r in replay_table(results)}
    assert (rows["task-00"].calls, rows["task-00"].by_specialist, rows["task-00"].agreement) == (4, 3, 0.5)
    assert rows["task-00"].unmeasured == 1
    assert rows["task-01"].share == 0.0 and rows["task-01"].agreement is None and rows["task-01"].fallbacks == 1
    assert (rows["all"].calls, rows["all"].share, rows["all"].errors) == (6, 0.5, 1)
