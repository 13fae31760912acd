"""A specialist's answer validated against the request and written in the OpenAI response shape."""

from __future__ import annotations

import json

import pytest

from llm2slm.capture.records import SSEParser, StreamAssembler
from llm2slm.common.schema import Tool, response_to_text
from llm2slm.serving.answers import InvalidAnswer, assistant_message, completion_body, completion_events

TOOLS = [Tool.model_validate({"type": "function", "function": {
    "name": "find_flight", "description": "Search flights",
    "parameters": {"type": "object", "properties": {"origin": {"type": "string"},
                                                    "seats": {"type": "integer", "minimum": 1}},
                   "required": ["origin"], "additionalProperties": False}}})]


def test_a_label_is_the_content_exactly_and_an_unknown_one_is_refused():
    message, finish = assistant_message("closed_label", '{"intent": "pto_used"}', ['{"intent": "pto_used"}'], None)
    assert message == {"role": "assistant", "content": '{"intent": "pto_used"}'} and finish == "stop"
    with pytest.raises(InvalidAnswer) as caught:
        assistant_message("closed_label", "refund", ["card_lost", "card_arrival"], None)
    assert caught.value.reason == "invalid_label" and "'refund'" in str(caught.value)


def test_json_is_rewritten_in_the_llm_layout_and_broken_json_is_refused():
    message, _ = assistant_message("json_spans", '{"people":"2","time":"7pm"}', None, None)
    assert message["content"] == '{"people": "2", "time": "7pm"}'
    for broken in ('{"people": "2"', '["a"]'):
        with pytest.raises(InvalidAnswer) as caught:
            assistant_message("json", broken, None, None)
        assert caught.value.reason == "invalid_json"


def test_tool_calls_must_name_an_offered_tool_with_arguments_on_its_schema():
    good = json.dumps([{"name": "find_flight", "arguments": {"origin": "SFO", "seats": 2}}])
    message, finish = assistant_message("tool_call", good, None, TOOLS)
    assert finish == "tool_calls" and message["content"] is None
    (call,) = message["tool_calls"]
    assert call["function"] == {"name": "find_flight", "arguments": '{"origin": "SFO", "seats": 2}'}
    assert call["id"].startswith("call_") and call["type"] == "function"
    for bad, why in ((json.dumps([{"name": "book_hotel", "arguments": {}}]), "not offered"),
                     (json.dumps([{"name": "find_flight", "arguments": {"seats": 2}}]), "'origin' is a required"),
                     (json.dumps([{"name": "find_flight", "arguments": {"origin": "SFO", "seats": 0}}]), "minimum"),
                     ('[{"name": "find_flight", "arguments": ', "not JSON")):
        with pytest.raises(InvalidAnswer, match=why) as caught:
            assistant_message("tool_call", bad, None, TOOLS)
        assert caught.value.reason == "invalid_tool_call"


def test_a_tool_task_may_answer_with_text_as_the_llm_could():
    message, finish = assistant_message("tool_call", "Which city do you fly from?", None, TOOLS)
    assert message == {"role": "assistant", "content": "Which city do you fly from?"} and finish == "stop"


def _assembled(events: list[bytes]) -> tuple[str, dict]:
    parser, assembler = SSEParser(), StreamAssembler()
    payloads = [payload for event in events for _, payload in parser.feed(event)]
    assert payloads[-1] == "[DONE]"
    for payload in payloads[:-1]:
        assembler.add(json.loads(payload))
    return response_to_text(_message(assembler)), assembler.answer()


def _message(assembler: StreamAssembler):
    from llm2slm.common.schema import Message

    message = assembler.answer()["choices"][0]["message"]
    return Message.model_validate({k: v for k, v in message.items() if v is not None})


@pytest.mark.parametrize("shape,answer", [("closed_label", "card_arrival"),
                                          ("tool_call", '[{"name": "find_flight", "arguments": {"origin": "SFO"}}]')])
def test_the_stream_reassembles_to_the_whole_answer(shape, answer):
    message, finish = assistant_message(shape, answer, None, TOOLS)
    usage = {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}
    events = completion_events(message, finish, "llm2slm-task-00/3", usage)
    text, whole = _assembled(events)
    assert json.loads(text) == json.loads(answer) if shape == "tool_call" else text == answer
    assert whole["choices"][0]["finish_reason"] == finish and whole["usage"] == usage
    body = completion_body(message, finish, "llm2slm-task-00/3", usage)
    assert body["choices"][0]["message"] == message and body["model"] == "llm2slm-task-00/3"
