"""The generated layout of answers and back: tool calls name first and compact, JSON objects compact with sorted
keys, text unchanged; canonical_answer(generation_target(a)) == a for canonical answers."""

from __future__ import annotations

import json

import pytest

from llm2slm.training.answer_format import canonical_answer, generation_target
from llm2slm.training.prompts import tool_calls_text

CALLS = [{"function": {"name": "SearchOnewayFlight",
                       "arguments": json.dumps({"origin": "BOS", "destination": "NYC", "when": {"day": 3, "at": "9"}})}},
         {"function": {"name": "ping", "arguments": "{}"}}]


def test_a_tool_call_answer_is_written_name_first_compact_with_sorted_arguments():
    canonical = tool_calls_text(CALLS)  # the task dataset's form: sort_keys, so "arguments" before "name"
    assert canonical.index('"arguments"') < canonical.index('"name"')
    target = generation_target(canonical, "tools")
    assert target == ('[{"name":"SearchOnewayFlight","arguments":{"destination":"NYC","origin":"BOS",'
                      '"when":{"at":"9","day":3}}},{"name":"ping","arguments":{}}]')
    assert canonical_answer(target, "tools") == canonical


@pytest.mark.parametrize("answer", ['{"people": 2, "time": "19:00"}', '{"a": {"b": [1, {"c": null}]}, "z": "é"}'])
def test_a_json_object_answer_is_compact_with_sorted_keys_and_round_trips(answer):
    target = generation_target(answer, "json")
    assert " " not in target.replace('"19:00"', "")
    assert json.loads(target) == json.loads(answer)
    assert canonical_answer(target, "json") == answer


def test_json_keys_are_sorted_in_the_target_and_the_canonical_form():
    assert generation_target('{"b": 1, "a": {"d": 2, "c": 3}}', "json") == '{"a":{"c":3,"d":2},"b":1}'
    assert canonical_answer('{"b":1,"a":2}', "json") == '{"a": 2, "b": 1}'


@pytest.mark.parametrize("decoding", ["none", "json", "tools"])
@pytest.mark.parametrize("text", ["The flight leaves at 9.", "[link](http://x) is not a call", "[1, 2]",
                                  '{"not": "closed"', ""])
def test_text_and_answers_that_are_not_of_the_mode_stay_unchanged(decoding, text):
    assert generation_target(text, decoding) == text
    assert canonical_answer(text, decoding) == text


def test_none_keeps_every_answer_as_it_is():
    canonical = tool_calls_text(CALLS)
    assert generation_target(canonical, "none") == canonical == canonical_answer(canonical, "none")
    assert generation_target('{"b": 1, "a": 2}', "none") == '{"b": 1, "a": 2}'


def test_an_unknown_decoding_is_a_clear_error():
    with pytest.raises(ValueError, match="decoding 'regex' is not one of none, json, tools"):
        generation_target("x", "regex")
    with pytest.raises(ValueError, match="decoding"):
        canonical_answer("x", "grammar")
