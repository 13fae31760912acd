"""The route log: replicas writing one folder, torn lines, and the per-task summary with exact figures."""

from __future__ import annotations

import json
import stat
import threading
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from llm2slm.common.config import TokenPrice
from llm2slm.serving.route_log import RouteEvent, RouteLog, parse_window, read_events, summarize

T0 = (datetime.now(timezone.utc) - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)  # before the files
PRICES = {"default": TokenPrice(prompt=2.5, completion=10.0), "gpt-4o": TokenPrice(prompt=2.5, completion=10.0),
          "gpt-4o-mini": TokenPrice(prompt=0.15, completion=0.6)}


def call(task="task-01", route="specialist", minute=0, **extra) -> RouteEvent:
    return RouteEvent(at=T0 + timedelta(minutes=minute), kind="call", task_id=task, route=route,
                      mode=extra.pop("mode", "on"), **extra)


def llm_call(task, model, prompt, completion, minute=0, route="llm", **extra) -> RouteEvent:
    return call(task, route, minute, llm_model=model, prompt_tokens=prompt, completion_tokens=completion, **extra)


def shadow(task, agree, minute=0) -> RouteEvent:
    return RouteEvent(at=T0 + timedelta(minutes=minute), kind="shadow", task_id=task, route="llm", mode="shadow",
                      model_version="3", agree=agree)


def test_two_replicas_writing_from_threads_read_back_complete(tmp_path):
    folder = tmp_path / "route_log"
    logs = [RouteLog(folder, "gw-a", flush_s=0.01), RouteLog(folder, "gw-b", flush_s=0.01)]

    def write(log, replica):
        for i in range(500):
            log.append(call(task=f"task-{replica}", minute=i, confidence=i / 500))

    threads = [threading.Thread(target=write, args=(log, n)) for n, log in enumerate(logs) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for log in logs:
        log.close()
    read = read_events(folder)
    assert (read.files, read.skipped, len(read.events)) == (2, 0, 2000)
    counts = {task: sum(e.task_id == task for e in read.events) for task in ("task-0", "task-1")}
    assert counts == {"task-0": 1000, "task-1": 1000}
    assert [e.at for e in read.events] == sorted(e.at for e in read.events)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == {0o600}
    assert sorted(p.name for p in folder.iterdir()) == ["gw-a.jsonl", "gw-b.jsonl"]


def test_close_writes_what_is_queued_and_lines_hold_no_call_text(tmp_path):
    with RouteLog(tmp_path, "gw", flush_s=3600) as log:  # the flusher never wakes on its own here
        log.append(llm_call("task-01", "gpt-4o", 100, 20, route="fallback", fallback_reason="timeout"))
    line = json.loads((tmp_path / "gw.jsonl").read_text())
    assert set(line) == set(RouteEvent.model_fields)
    assert (line["route"], line["fallback_reason"], line["prompt_tokens"]) == ("fallback", "timeout", 100)
    with pytest.raises(ValueError, match="is closed"):
        log.append(call())


def test_a_torn_last_line_is_skipped_and_counted_and_a_reopened_log_starts_a_new_line(tmp_path):
    with RouteLog(tmp_path, "gw") as log:
        log.append(call(minute=1))
        log.append(call(minute=2))
    with open(tmp_path / "gw.jsonl", "a") as handle:
        handle.write(call(minute=3).model_dump_json()[:40])  # the process died mid-line
    torn = read_events(tmp_path)
    assert ([e.at.minute for e in torn.events], torn.skipped) == ([1, 2], 1)
    with RouteLog(tmp_path, "gw") as log:
        log.append(call(minute=4))
    again = read_events(tmp_path)
    assert ([e.at.minute for e in again.events], again.skipped) == ([1, 2, 4], 1)


def test_since_keeps_the_window(tmp_path):
    with RouteLog(tmp_path, "gw") as log:
        for minute in (0, 10, 20):
            log.append(call(minute=minute))
    assert [e.at.minute for e in read_events(tmp_path, T0 + timedelta(minutes=10)).events] == [10, 20]
    assert read_events(tmp_path / "absent").events == []


def test_events_are_checked():
    with pytest.raises(ValidationError, match="fallback_reason is given exactly when route is 'fallback'"):
        call(route="fallback")
    with pytest.raises(ValidationError, match="a shadow event has route 'llm'"):
        RouteEvent(at=T0, kind="shadow", route="specialist", mode="shadow")
    with pytest.raises(ValidationError):
        call(mode="full")
    naive = RouteEvent(at=T0.replace(tzinfo=None), route="llm", mode="off")
    assert naive.at == T0 and naive.task_id == "none"


def test_summarize_gives_exact_shares_agreements_and_costs():
    events = [
        # task-01, canary: 6 specialist, 2 LLM (outside the share, not confident), 2 fallbacks
        *[call("task-01", minute=i, mode="canary", model_version="3", confidence=0.9) for i in range(6)],
        llm_call("task-01", "gpt-4o-mini", 1000, 100, mode="canary"),  # 0.00015 + 0.00006 = 0.00021 USD
        llm_call("task-01", "gpt-4o-mini-2026", 2000, 300, mode="canary"),  # 0.0003 + 0.00018 = 0.00048
        llm_call("task-01", "gpt-4o", 400, 50, route="fallback", fallback_reason="timeout", mode="canary"),
        # ^ 0.001 + 0.0005 = 0.0015 USD
        call("task-01", route="fallback", fallback_reason="invalid_label", mode="canary"),  # no usage logged
        # task-02, shadow: 3 LLM calls, 4 comparisons, 3 agree
        *[llm_call("task-02", "some-model", 1000, 0, mode="shadow") for _ in range(3)],  # default: 0.0025 each
        shadow("task-02", True), shadow("task-02", True), shadow("task-02", False), shadow("task-02", True),
        # task-03, on: 4 specialist calls, no LLM call in the window
        *[call("task-03") for _ in range(4)],
        call("none", route="llm", mode="off"),
    ]
    by_task = {t.task_id: t for t in summarize(events, PRICES, {"task-03": 0.002}, tasks=["task-04"])}
    assert list(by_task) == ["none", "task-01", "task-02", "task-03", "task-04"]
    one = by_task["task-01"]
    assert (one.calls, one.specialist, one.llm, one.fallbacks, one.fallback_total) == (
        10, 6, 2, {"invalid_label": 1, "timeout": 1}, 2)
    assert one.specialist_share == pytest.approx(0.6)
    assert (one.llm_priced_calls, one.cost_basis) == (3, "window")
    assert one.llm_cost_usd == pytest.approx(0.00021 + 0.00048 + 0.0015)
    assert one.llm_cost_per_call_usd == pytest.approx(0.00219 / 3)
    assert one.cost_saved_usd == pytest.approx(6 * 0.00219 / 3)
    two = by_task["task-02"]
    assert (two.calls, two.specialist, two.llm, two.shadow_compared, two.shadow_agreed) == (3, 0, 3, 4, 3)
    assert (two.specialist_share, two.agreement, two.cost_saved_usd) == (0.0, 0.75, 0.0)
    assert two.llm_cost_usd == pytest.approx(3 * 0.0025)
    three = by_task["task-03"]
    assert (three.calls, three.specialist_share, three.cost_basis) == (4, 1.0, "evaluation")
    assert three.cost_saved_usd == pytest.approx(4 * 0.002)
    assert by_task["none"].llm == 1 and by_task["none"].cost_saved_usd == 0.0
    four = by_task["task-04"]
    assert (four.calls, four.specialist_share, four.agreement, four.cost_saved_usd) == (0, None, None, 0.0)


def test_a_saving_without_any_price_is_unknown_not_zero():
    (only,) = summarize([call("task-03") for _ in range(2)], PRICES)
    assert (only.specialist, only.cost_basis, only.cost_saved_usd) == (2, None, None)


@pytest.mark.parametrize(("text", "expected"), [("30m", timedelta(minutes=30)), ("24h", timedelta(hours=24)),
                                                ("7d", timedelta(days=7))])
def test_windows_parse(text, expected):
    assert parse_window(text) == expected


@pytest.mark.parametrize("text", ["", "24", "h", "0h", "-1d", "1w", "1.5h"])
def test_bad_windows_say_what_is_expected(text):
    with pytest.raises(ValueError, match="expected a positive number and a unit m, h or d"):
        parse_window(text)
