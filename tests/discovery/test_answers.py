"""Answer schemas: what a group is answered with, compared coarsely (content clusters) and strictly (wordings)."""

from __future__ import annotations

import json

from llm2slm.discovery.answers import AnswerSchema, answer_schema, coarse_match, schema_groups, strict_match
from tests.factories import make_record

TOOL = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]


def _calls(answers: list[str], **extra):
    return [make_record(i, f"q{i}", answer=a, **extra) for i, a in enumerate(answers)]


def test_each_form_has_its_schema():
    labels = answer_schema(_calls(["refund", "delay", "refund", "delay", "refund"] * 4))
    assert labels == AnswerSchema("label", labels=frozenset({"refund", "delay"}), words=1)
    slots = answer_schema(_calls([json.dumps({"people": str(i)}) for i in range(19)] + ['{"time": "7pm"}', "{}"]))
    assert slots.form == "json" and slots.keys == {"people"}  # "time" is in fewer than 5% of the objects
    intents = answer_schema(_calls([json.dumps({"intent": x}) for x in ["a", "b"] * 10]))
    assert intents.keys == {"intent"} and intents.labels == {'{"intent": "a"}', '{"intent": "b"}'}
    text = answer_schema(_calls([f"Here is a long answer number {i} with many words in it" for i in range(9)]))
    assert text == AnswerSchema("text", words=12) and text.describe() == "text (~12 words)"
    tools = [make_record(i, "q", tools=TOOL, tool_calls=[{"name": "get_weather", "arguments": {"city": "x"}}])
             for i in range(3)] + _calls(["no tool fits"], tools=TOOL)
    assert answer_schema(tools) == AnswerSchema("tools", keys=frozenset({"get_weather"}))


def test_coarse_and_strict_matches():
    a = AnswerSchema("json", keys=frozenset({"people", "time"}))
    assert coarse_match(a, AnswerSchema("json", keys=frozenset({"time", "date"})))
    assert not coarse_match(a, AnswerSchema("json", keys=frozenset({"intent"})))
    assert not strict_match(a, AnswerSchema("json", keys=frozenset({"time", "date", "name"})))
    small = AnswerSchema("text", words=1)
    labels = AnswerSchema("label", labels=frozenset({"x", "y"}), words=1)
    assert coarse_match(small, labels) and not coarse_match(AnswerSchema("text", words=40), labels)
    assert not strict_match(labels, AnswerSchema("label", labels=frozenset({"p", "q", "r"}), words=1))
    assert not coarse_match(AnswerSchema("tools"), a)


def test_schema_groups_join_overlapping_keys_and_the_empty_object():
    answers = ['{"people": "2"}', '{"people": "2", "time": "7"}', '{"time": "8"}', "{}", '{"intent": "a"}', "hi"]
    assert schema_groups(_calls(answers)) == [0, 0, 0, 0, 1, 2]
    tools = [make_record(0, "q", tools=TOOL, tool_calls=[{"name": "get_weather", "arguments": {}}]),
             make_record(1, "q", answer="none fits", tools=TOOL)]
    assert schema_groups(tools) == [0, 0]  # a text answer to a tool offer is the tool-calling form
