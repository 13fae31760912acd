"""Requests and answers to call records: validation messages, stream assembly, event splitting."""

from __future__ import annotations

import json

import pytest

from llm2slm.capture.records import RequestError, SSEParser, StreamAssembler, parse_request


@pytest.mark.parametrize("body, words", [
    ({"messages": [{"role": "user", "content": "x"}]}, "model: Field required"),
    ({"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": 3}]}]},
     "messages.0.content.0.text"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "n": "2"}, "n: Input should be a valid integer"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]},
     "tools.0.function: Field required"),
])
def test_bad_requests_name_the_field(body, words):
    with pytest.raises(RequestError, match=words.replace(".", r"\.")):
        parse_request(body)


def test_content_parts_keep_their_text():
    parsed = parse_request({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "look at"}, {"type": "image_url", "image_url": {"url": "data:..."}},
        {"type": "text", "text": "this"}]}]})
    assert parsed.messages[0].content == "look at\nthis"


def test_parallel_tool_call_deltas_are_assembled_per_index():
    assembler = StreamAssembler()
    deltas = [
        {"tool_calls": [{"index": 0, "id": "a", "type": "function", "function": {"name": "f", "arguments": ""}}]},
        {"tool_calls": [{"index": 1, "id": "b", "type": "function", "function": {"name": "g", "arguments": "{"}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"x": '}}]},
        {"tool_calls": [{"index": 1, "function": {"arguments": "}"}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]},
    ]
    for delta in deltas:
        assembler.add({"model": "m-1", "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
    assembler.add({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    answer = assembler.answer()
    message = answer["choices"][0]["message"]
    assert message["content"] is None
    assert [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in message["tool_calls"]] == [
        ("a", "f", '{"x": 1}'), ("b", "g", "{}")]
    assert (answer["model"], answer["choices"][0]["finish_reason"]) == ("m-1", "tool_calls")


def test_sse_parser_keeps_bytes_across_split_chunks_and_crlf():
    stream = b'data: {"a": 1}\r\n\r\ndata: {"b":\ndata: 2}\n\n: comment\n\ndata: [DONE]\n\n'
    parser, events = SSEParser(), []
    for i in range(0, len(stream), 5):
        events.extend(parser.feed(stream[i:i + 5]))
    assert b"".join(raw for raw, _ in events) == stream and parser.buffer == b""
    assert [data for _, data in events] == ['{"a": 1}', '{"b":\n2}', None, "[DONE]"]
    assert json.loads(events[1][1]) == {"b": 2}
