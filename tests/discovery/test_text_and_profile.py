import json

from llm2slm.discovery.profile import (is_closed_label_set, is_json_object, output_shape, request_chars,
                                       token_percentiles)
from llm2slm.discovery.text import content_text, previous_assistant_turn, shape_text, user_text
from llm2slm.common.config import SelectConfig
from llm2slm.common.schema import CallRecord
from tests.discovery.synthetic import trace
from tests.factories import make_record


RULE = (SelectConfig().closed_label_max, SelectConfig().closed_label_coverage)  # 400 labels cover 98%


def _dialogue() -> CallRecord:
    record = make_record(1, "for four people", system="You book tables.\n\nFields:   people, date")
    data = record.model_dump()
    data["messages"] = [data["messages"][0], {"role": "user", "content": "a table please"},
                        {"role": "assistant", "content": "How many of you?"}, data["messages"][1]]
    return CallRecord.model_validate(data)


def test_the_shape_holds_the_template_and_tools_and_the_content_the_users_words():
    records, _ = trace({"tools": 1}, seed=0)
    lines = shape_text(records[0]).splitlines()
    assert lines[0].startswith("system: You are a helpful assistant")
    assert lines[1].startswith("tools: ") and records[0].tool_names()[0] in lines[1]
    assert content_text(records[0]) == f"user: {user_text(records[0])}"


def test_the_content_has_the_preceding_assistant_turn_squashed_and_both_halves_are_capped():
    record = _dialogue()
    assert previous_assistant_turn(record) == "How many of you?"
    assert shape_text(record) == "system: You book tables. Fields: people, date"
    assert content_text(record) == "assistant: How many of you?\nuser: for four people"
    long = make_record(2, "x" * 5000, system="s" * 5000)
    assert shape_text(long) == "system: " + "s" * 300
    assert len(content_text(long, max_chars=600)) == 600
    assert shape_text(make_record(3, "hi", system="")) == ""
    dated = [make_record(i, "hi", system=f"Today is 2026-10-{i:02d}; you have {i * 7} credits.") for i in (4, 5)]
    assert shape_text(dated[0]) == shape_text(dated[1]) == "system: Today is 0-0-0; you have 0 credits."


def test_no_assistant_turn_when_it_is_not_just_before_the_last_user_message():
    assert previous_assistant_turn(make_record(1, "hi")) == ""


def test_output_shapes():
    triage, _ = trace({"triage": 60}, seed=0)
    extract, _ = trace({"extract": 60}, seed=0)
    tools, _ = trace({"tools": 60}, seed=0)
    prose = [make_record(i, f"q{i}", answer=f"Here is a sentence number {i}.") for i in range(60)]
    assert output_shape(triage, *RULE)[0] == "closed_label" and output_shape(triage, *RULE)[1] <= 5
    assert output_shape(extract, *RULE)[0] == "json"
    assert output_shape(tools, *RULE)[0] == "tool_call"
    assert output_shape(prose, *RULE) == ("free_text", 60)
    assert output_shape(triage, 2, 0.98)[0] == "free_text"  # the thresholds are the caller's: 2 labels are too few


def test_a_closed_label_set_needs_few_answers_that_repeat():
    assert is_closed_label_set(["a", "b"] * 50, *RULE)
    assert not is_closed_label_set([f"x{i}" for i in range(100)], *RULE)  # all distinct: not a label set
    many = [f"l{i % 500}" for i in range(5000)]  # 500 labels > 400
    assert not is_closed_label_set(many, *RULE)
    assert is_closed_label_set(many, max_labels=500, coverage=0.98)
    tail = ["a"] * 990 + [f"rare{i}" for i in range(10)]  # the top label covers 99%
    assert is_closed_label_set(tail, max_labels=1, coverage=0.98)
    assert not is_closed_label_set(tail, max_labels=1, coverage=0.995)
    assert not is_closed_label_set([], *RULE)


def test_json_objects_only():
    assert is_json_object('{"a": 1}') and is_json_object(" {} ")
    assert not is_json_object("[1]") and not is_json_object("{nope") and not is_json_object("label")


def test_token_percentiles_are_ceil_chars_over_four():
    records = [make_record(i, "u" * (4 * i + 1), answer="a" * (4 * i + 1), system="") for i in range(1, 101)]
    assert request_chars(records[0]) == 5
    stats = token_percentiles(records)
    assert stats["answer"] == {"p50": 52, "p90": 92, "p99": 101}
    assert stats["request"]["p50"] == 52
    tools, _ = trace({"tools": 1}, seed=0)
    spec = json.dumps([t.model_dump(exclude_none=True) for t in tools[0].tools])
    assert request_chars(tools[0]) == sum(len(m.content or "") for m in tools[0].messages) + len(spec)
    assert token_percentiles([]) == {"request": {"p50": 0, "p90": 0, "p99": 0},
                                     "answer": {"p50": 0, "p90": 0, "p99": 0}}
