"""The multi-turn agents: a dialogue's calls as a trajectory, dialogue-level PII, and the committed trace's SGD part."""

from __future__ import annotations

import json
import random
import re
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import jsonschema
import pytest

from llm2slm.capture import parse_jsonl
from llm2slm.common.schema import CallRecord
from llm2slm.sample import bundled_answer_key_path, bundled_trace_path, read_answer_key
from llm2slm.sample.common import AGENTS, SGD_KINDS, default_sources_dir
from llm2slm.sample.pii import load_values, planted_values
from llm2slm.sample.sgd import SERVICES, build_agent, plant_at, plant_dialogues
from llm2slm.sample.sgd_dialogues import ANCHOR, MAX_RESULTS, dialogue_calls, today_for
from llm2slm.sample.sgd_results import coverage
from llm2slm.sample.sgd_tools import service_tools


def _frame(actions=(), **extra):
    return {"service": "Banks_1", "slots": [], "actions": list(actions), **extra}


def _act(act, slot, values, canonical=None):
    return {"act": act, "slot": slot, "values": values, "canonical_values": canonical or values}


DIALOGUE = {
    "dialogue_id": "t_1", "services": ["Banks_1"],
    "turns": [
        {"speaker": "USER", "utterance": "What's in my savings?", "frames": [_frame()]},
        {"speaker": "SYSTEM", "utterance": "You have $1,200 in savings.",
         "frames": [_frame([_act("OFFER", "balance", ["$1,200"], ["1200"])],
                           service_call={"method": "CheckBalance", "parameters": {"account_type": "savings"}},
                           service_results=[{"account_type": "savings", "balance": "1200"}])]},
        {"speaker": "USER", "utterance": "Great, thanks.", "frames": [_frame()]},
        {"speaker": "SYSTEM", "utterance": "Anything else?", "frames": [_frame()]},
    ],
}


def _tools():
    from llm2slm.sample.sgd import load_schema

    return service_tools(load_schema(default_sources_dir())["Banks_1"])


def test_a_tool_turn_is_two_calls_and_each_request_extends_the_last() -> None:
    calls = dialogue_calls(DIALOGUE, "sgd_banks", "You are a bank assistant.", _tools(), random.Random(1)).calls
    assert [c.label for c in calls] == ["tool_call:CheckBalance", "reply", "reply"]
    assert [c.finish_reason for c in calls] == ["tool_calls", "stop", "stop"]
    first, reply, last = calls
    assert [m.role for m in first.messages] == ["system", "user"]
    # no date in the dialogue: a seeded day in the week from SGD's own today
    assert re.search(r"\nToday is \w+day, [1-7] March 2019\.\n", first.messages[0].content)
    (tool_call,) = first.response.tool_calls
    assert tool_call.function.name == "CheckBalance" and json.loads(tool_call.function.arguments) == {
        "account_type": "savings"}
    assert reply.messages[:2] == first.messages and reply.messages[2] == first.response
    assert reply.messages[3].role == "tool" and reply.messages[3].tool_call_id == tool_call.id
    assert json.loads(reply.messages[3].content) == [{"account_type": "savings", "balance": "1200"}]
    assert reply.response.content == "You have $1,200 in savings."
    assert last.messages == reply.messages + [reply.response, last.messages[-1]]
    assert last.messages[-1].content == "Great, thanks." and last.response.content == "Anything else?"
    again = dialogue_calls(DIALOGUE, "sgd_banks", "You are a bank assistant.", _tools(), random.Random(1)).calls
    assert again == calls  # tool-call ids and dates come from the seed


def test_today_is_sgds_anchor_for_relative_dates_else_before_the_first_date() -> None:
    relative = {"turns": [{"speaker": "USER", "utterance": "", "frames": [
        {"actions": [_act("INFORM", "date", ["tomorrow"], ["2019-03-02"])]}]}]}
    assert today_for(relative, random.Random(0)) == ANCHOR
    absolute = {"turns": [{"speaker": "USER", "utterance": "", "frames": [
        {"actions": [_act("INFORM", "date", ["March 10th"], ["2019-03-10"])]}]}]}
    days = {today_for(absolute, random.Random(seed)) for seed in range(40)}
    assert min(days) >= date(2019, 3, 3) and max(days) <= date(2019, 3, 9) and len(days) > 3
    assert today_for(absolute, random.Random(5)) == today_for(absolute, random.Random(5))


def test_dialogue_pii_sits_in_one_turn_of_every_later_call() -> None:
    dialogue = dialogue_calls(DIALOGUE, "sgd_banks", "x", _tools(), random.Random(1))
    planted = plant_at(dialogue, 5, "Great, thanks. My email is a@b.example.", ("EMAIL_ADDRESS",))
    assert [c.pii_types for c in planted.calls] == [(), (), ("EMAIL_ADDRESS",)]
    assert planted.calls[2].messages[5].content.endswith("a@b.example.")
    assert planted.calls[:2] == dialogue.calls[:2]


def test_planting_reaches_about_the_rate_of_calls_and_banks_get_no_names() -> None:
    dialogues = build_agent(default_sources_dir(), "sgd_banks", random.Random(3))
    out = plant_dialogues(dialogues, 0.07, load_values(default_sources_dir()), random.Random(4))
    calls = [c for d in out for c in d.calls]
    share = sum(1 for c in calls if c.pii_types) / len(calls)
    assert 0.07 <= share <= 0.085
    assert not any("PERSON" in c.pii_types for c in calls)


def test_capped_agent_takes_the_first_dialogues_reaching_the_cap() -> None:
    dialogues = build_agent(default_sources_dir(), "sgd_music", random.Random(0), target=30)
    sizes = [len(d.calls) for d in dialogues]
    assert sum(sizes) >= 30 and sum(sizes[:-1]) < 30


def test_missing_source_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="schema.json"):
        build_agent(tmp_path, "sgd_flights", random.Random(0))


def test_kept_results_cover_every_offer_found_in_the_results() -> None:
    from llm2slm.sample.sgd import bundled_dialogues

    cov = coverage(bundled_dialogues(default_sources_dir()))
    assert cov.offers > 3000 and cov.within[MAX_RESULTS] == cov.offers - cov.not_in_results
    assert cov.share(1) < 0.9 < cov.share(MAX_RESULTS) and cov.not_in_results / cov.offers < 0.03


# ---- the committed trace ----

@pytest.fixture(scope="module")
def trajectories() -> tuple[dict[str, list[CallRecord]], dict[str, dict[str, str]]]:
    key = {row["id"]: row for row in read_answer_key(bundled_answer_key_path())}
    traces: dict[str, list[CallRecord]] = defaultdict(list)
    for record in parse_jsonl(bundled_trace_path()):
        if key[record.id]["task_kind"] in SGD_KINDS:
            traces[record.trace_id or ""].append(record)
    return dict(traces), key


def test_sgd_counts_per_agent(trajectories) -> None:
    traces, key = trajectories
    kinds = Counter(row["task_kind"] for row in key.values())
    assert len(key) == 30_015
    counts = [kinds[kind] for kind in SGD_KINDS]
    assert sum(counts) == 9_002 and min(counts) >= 1_480 and max(counts) - min(counts) <= 20
    assert len(traces) == 910
    assert {key[t[0].id]["task_kind"] for t in traces.values()} == set(SGD_KINDS)


def test_each_dialogue_is_a_chained_trajectory(trajectories) -> None:
    traces, key = trajectories
    for calls in traces.values():
        assert [c.timestamp for c in calls] == sorted(c.timestamp for c in calls)
        assert calls[0].parent_span_id is None
        assert len({(c.source.agent, c.source.user, c.source.session, c.model) for c in calls}) == 1
        assert calls[0].source.agent == AGENTS[key[calls[0].id]["task_kind"]]
        answered = [c for c in calls if c.status == "ok"]
        for before, after in zip(calls, calls[1:]):
            assert after.parent_span_id == before.span_id
            assert 0 < (after.timestamp - before.timestamp).total_seconds() < 200
        for before, after in zip(answered, answered[1:]):
            grown = before.messages + [before.response]
            assert after.messages[:len(grown)] == grown, after.id
            if before.response.tool_calls:
                assert after.messages[len(grown)].role == "tool"
                assert after.messages[len(grown)].tool_call_id == before.response.tool_calls[0].id
                assert len(after.messages) == len(grown) + 1
            else:
                assert [m.role for m in after.messages[len(grown):]] == ["user"]


def test_a_trajectory_validates_as_call_records(trajectories) -> None:
    traces, _ = trajectories
    longest = max(traces.values(), key=len)
    assert len(longest) >= 15
    for call in longest:
        assert CallRecord.model_validate_json(call.model_dump_json()) == call
    roles = Counter(m.role for m in longest[-1].messages)
    assert roles["tool"] >= 1 and roles["system"] == 1 and roles["user"] >= 5


def test_tool_calls_name_an_offered_tool_with_valid_arguments(trajectories) -> None:
    traces, key = trajectories
    enums = 0
    for calls in traces.values():
        for call in calls:
            row = key[call.id]
            assert [t.function.name for t in call.tools] == [t.function.name for t in calls[0].tools]
            if row["flags"] == "failed":
                assert call.finish_reason == "error" and call.response.content == ""
                continue
            if call.response.tool_calls:
                (tool_call,) = call.response.tool_calls
                assert row["label"] == f"tool_call:{tool_call.function.name}" and call.finish_reason == "tool_calls"
                (tool,) = [t for t in call.tools if t.function.name == tool_call.function.name]
                arguments = json.loads(tool_call.function.arguments)
                jsonschema.validate(arguments, tool.function.parameters)
                props = tool.function.parameters["properties"]
                enums += sum(1 for name in arguments if "enum" in props[name])
            else:
                assert row["label"] == "reply" and call.finish_reason == "stop" and call.response.content
    assert enums > 1000


def test_pii_is_identical_in_every_later_call_of_its_dialogue(trajectories) -> None:
    traces, key = trajectories
    values = load_values(default_sources_dir())
    planted_dialogues = 0
    for calls in traces.values():
        with_pii = [c for c in calls if key[c.id]["pii_types"]]
        if not with_pii:
            continue
        planted_dialogues += 1
        first = calls.index(with_pii[0])
        assert with_pii == calls[first:]  # every later call holds it
        types = tuple(key[with_pii[0].id]["pii_types"].split(";"))
        position = next(i for i, m in enumerate(with_pii[0].messages) if m.role == "user"
                        and all(planted_values(m.content or "", (t,), values) for t in types))
        for call in with_pii:
            assert key[call.id]["pii_types"] == ";".join(types)
            assert call.messages[position] == with_pii[0].messages[position]
        if first > 0:
            assert len(calls[first - 1].messages) <= position
    assert 30 <= planted_dialogues <= 200
