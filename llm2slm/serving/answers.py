"""A specialist's answer checked against the request and written as the LLM would have answered.

A specialist answers in canonical text (`Specialist.predict_with_confidence`): a label, a JSON object, a JSON list
of tool calls `[{"name", "arguments"}]`, or free text. `assistant_message` turns it into the OpenAI assistant
message or raises `InvalidAnswer` naming why it cannot stand in for the LLM's: a label outside the specialist's
set, JSON that does not parse, a tool call to a tool the request did not offer or with arguments off the tool's
JSON Schema. `completion_body` and `completion_events` write the chat-completions response, whole or as the
server-sent events of a stream.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from typing import Any

from llm2slm.common.schema import Tool, estimate_tokens

TEXT_SHAPES = ("closed_label", "free_text")
JSON_SHAPES = ("json", "json_spans")
PIECE_CHARS = 16  # characters of content or arguments per streamed chunk


class InvalidAnswer(ValueError):
    """The specialist's answer does not validate; `reason` is the fallback counter's label."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def assistant_message(shape: str, answer: str, labels: Sequence[str] | None,
                      tools: Sequence[Tool] | None) -> tuple[dict[str, Any], str]:
    """(assistant message, finish reason) for a specialist's canonical answer; raises InvalidAnswer."""
    if shape == "closed_label":
        if labels is not None and answer not in set(labels):
            raise InvalidAnswer("invalid_label", f"label {answer[:80]!r} is not one of the specialist's labels")
        return {"role": "assistant", "content": answer}, "stop"
    if shape in JSON_SHAPES:
        return {"role": "assistant", "content": _json_object_text(answer)}, "stop"
    if shape == "tool_call":
        calls = _tool_calls(answer)
        if calls is None:  # a text reply: the LLM was free to answer with text too
            return {"role": "assistant", "content": answer}, "stop"
        return {"role": "assistant", "content": None, "tool_calls": _checked_calls(calls, tools)}, "tool_calls"
    if shape == "free_text":
        return {"role": "assistant", "content": answer}, "stop"
    raise InvalidAnswer("unknown_shape", f"no answer format for shape {shape!r}")


def _json_object_text(answer: str) -> str:
    try:
        value = json.loads(answer)
    except (ValueError, RecursionError) as exc:
        raise InvalidAnswer("invalid_json", f"the answer is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidAnswer("invalid_json", f"the answer is JSON {type(value).__name__}, not an object")
    return json.dumps(value, ensure_ascii=False)  # the LLM's layout: ", " and ": " separators


def _tool_calls(answer: str) -> list[Any] | None:
    if not answer.strip().startswith("["):
        return None
    try:
        calls = json.loads(answer)
    except (ValueError, RecursionError) as exc:
        raise InvalidAnswer("invalid_tool_call", f"the tool calls are not JSON: {exc}") from exc
    if not isinstance(calls, list) or not calls:
        raise InvalidAnswer("invalid_tool_call", "the tool calls must be a non-empty JSON list")
    return calls


def _checked_calls(calls: list[Any], tools: Sequence[Tool] | None) -> list[dict[str, Any]]:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    offered = {t.function.name: t.function.parameters for t in tools or []}
    out = []
    for call in calls:
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            raise InvalidAnswer("invalid_tool_call", "a tool call must be an object with a string 'name'")
        name, arguments = call["name"], call.get("arguments", {})
        if name not in offered:
            raise InvalidAnswer("invalid_tool_call", f"tool {name!r} was not offered by the request")
        if not isinstance(arguments, dict):
            raise InvalidAnswer("invalid_tool_call", f"the arguments of {name!r} are not a JSON object")
        try:
            errors = sorted(Draft202012Validator(offered[name] or {}).iter_errors(arguments), key=str)
        except SchemaError as exc:
            raise InvalidAnswer("invalid_tool_call", f"tool {name!r} has no valid JSON Schema: {exc.message}") \
                from exc
        if errors:
            raise InvalidAnswer("invalid_tool_call", f"arguments of {name!r} off its schema: {errors[0].message}")
        out.append({"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
                    "function": {"name": name, "arguments": json.dumps(arguments, ensure_ascii=False)}})
    return out


def usage_estimate(messages_chars: int, message: dict[str, Any]) -> dict[str, int]:
    """Token counts of a specialist's answer, estimated as the capture does when a provider reports none."""
    answer = message.get("content") or json.dumps(message.get("tool_calls"))
    prompt, completion = max(1, estimate_tokens(messages_chars)), max(1, estimate_tokens(len(answer)))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def completion_body(message: dict[str, Any], finish: str, model: str, usage: dict[str, int]) -> dict[str, Any]:
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "message": message, "finish_reason": finish,
                                         "logprobs": None}], "usage": usage}


def completion_events(message: dict[str, Any], finish: str, model: str,
                      usage: dict[str, int] | None) -> list[bytes]:
    """The answer as server-sent events in small pieces, ending with `data: [DONE]` (a usage chunk before it when
    the agent asked for one)."""
    base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model}

    def event(delta: dict[str, Any], reason: str | None = None) -> bytes:
        chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": reason, "logprobs": None}]}
        return b"data: " + json.dumps(chunk, ensure_ascii=False).encode("utf-8") + b"\n\n"

    events = [event({"role": "assistant", "content": "" if message.get("content") is not None else None})]
    content = message.get("content") or ""
    events += [event({"content": content[i:i + PIECE_CHARS]}) for i in range(0, len(content), PIECE_CHARS)]
    for index, call in enumerate(message.get("tool_calls") or []):
        function = call["function"]
        events.append(event({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                             "function": {"name": function["name"], "arguments": ""}}]}))
        arguments = function["arguments"]
        events += [event({"tool_calls": [{"index": index, "function": {"arguments": arguments[i:i + PIECE_CHARS]}}]})
                   for i in range(0, len(arguments), PIECE_CHARS)]
    events.append(event({}, finish))
    if usage is not None:
        events.append(b"data: " + json.dumps({**base, "choices": [], "usage": usage}).encode("utf-8") + b"\n\n")
    return events + [b"data: [DONE]\n\n"]
