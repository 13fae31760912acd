"""OpenAI chat-completions requests and answers to call records, and back again where needed.

`parse_request` checks a request body against the part of the OpenAI schema the call record keeps and raises
`RequestError` naming the first problem; it is the one validation a request goes through. `build_record` then
assembles the CallRecord from already validated parts without validating them again. Streamed answers are put back
together by `StreamAssembler` (content pieces, tool-call deltas, the final usage chunk) and `SSEParser` splits the
raw event stream the gateway forwards.

Two things an OpenAI request can hold do not fit a call record and are simplified: a message whose content is a
list of parts keeps its text parts joined by newlines (images, audio and files are left out), and with `n` > 1
only the first choice is recorded. When the upstream sends no usage (a stream without
`stream_options.include_usage`), the token counts are estimated from the characters (`schema.estimate_tokens`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from llm2slm.common.errors import describe_validation_error
from llm2slm.common.schema import (CallRecord, Message, RouteInfo, Source, Tool, Usage, estimate_tokens,
                                   request_chars)

FINISH_REASONS = {"stop", "length", "tool_calls", "content_filter", "function_call", "error"}
ERROR_TEXT_CHARS = 500  # characters of an upstream error body kept in the record
OPENAI_KEYS = frozenset({
    "model", "messages", "tools", "tool_choice", "stream", "stream_options", "temperature", "top_p", "n", "stop",
    "max_tokens", "max_completion_tokens", "presence_penalty", "frequency_penalty", "logit_bias", "logprobs",
    "top_logprobs", "user", "seed", "response_format", "parallel_tool_calls", "functions", "function_call",
    "metadata", "store", "service_tier", "modalities", "audio", "prediction", "reasoning_effort",
    "web_search_options", "verbosity", "prompt_cache_key", "safety_identifier",
})

_MESSAGES = TypeAdapter(list[Message])
_TOOLS = TypeAdapter(list[Tool])


class RequestError(ValueError):
    """The request does not match the OpenAI chat-completions schema; the message names the field."""


class _Params(BaseModel):
    """Types of the top-level parameters the gateway checks besides messages and tools."""

    model_config = ConfigDict(extra="ignore", strict=True)  # "yes" is not a boolean, "2" not an integer
    model: str = Field(min_length=1)
    stream: bool | None = None
    stream_options: dict[str, Any] | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    n: int | None = Field(None, ge=1, le=128)
    stop: str | list[str] | None = None
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    seed: int | None = None
    user: str | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None


@dataclass
class ParsedRequest:
    model: str
    messages: list[Message]
    tools: list[Tool] | None
    stream: bool
    user: str | None = None


def _text_of_parts(parts: list[Any], where: str) -> str:
    texts = []
    for i, part in enumerate(parts):
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise RequestError(f"{where}.{i}: a content part must be an object with a string 'type'")
        if part["type"] == "text":
            if not isinstance(part.get("text"), str):
                raise RequestError(f"{where}.{i}.text: a text part needs a string 'text'")
            texts.append(part["text"])
    return "\n".join(texts)


def _message_dict(raw: Any, index: int) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise RequestError(f"messages.{index}: must be an object, got {type(raw).__name__}")
    message = {k: raw[k] for k in ("role", "content", "name", "tool_calls", "tool_call_id") if k in raw}
    if isinstance(message.get("content"), list):
        message["content"] = _text_of_parts(message["content"], f"messages.{index}.content")
    if isinstance(message.get("tool_calls"), list):
        message["tool_calls"] = [_tool_call_dict(c) for c in message["tool_calls"]]
    return message


def _tool_call_dict(raw: Any) -> Any:
    if not isinstance(raw, dict):
        return raw  # left to the schema, which names the problem
    call = {k: raw[k] for k in ("id", "type", "function") if k in raw}
    if isinstance(call.get("function"), dict):
        call["function"] = {k: call["function"][k] for k in ("name", "arguments") if k in call["function"]}
    return call


def parse_request(body: Any, extra_keys: frozenset[str] | set[str] = frozenset()) -> ParsedRequest:
    """Validate a chat-completions request body; raises RequestError naming the first problem."""
    if not isinstance(body, dict):
        raise RequestError(f"the body must be a JSON object, got {type(body).__name__}")
    unknown = sorted(k for k in body if k not in OPENAI_KEYS and k not in extra_keys)
    if unknown:
        raise RequestError(f"unrecognized request argument(s): {', '.join(map(repr, unknown[:5]))}")
    try:
        params = _Params.model_validate(body)
    except ValidationError as exc:
        raise RequestError(describe_validation_error(exc, first_only=True)) from exc
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise RequestError("messages: must be a non-empty list of messages")
    try:
        messages = _MESSAGES.validate_python([_message_dict(m, i) for i, m in enumerate(raw_messages)])
    except ValidationError as exc:
        raise RequestError(describe_validation_error(exc, "messages", first_only=True)) from exc
    tools = None
    if body.get("tools") is not None:
        try:
            tools = _TOOLS.validate_python(body["tools"])
        except ValidationError as exc:
            raise RequestError(describe_validation_error(exc, "tools", first_only=True)) from exc
    return ParsedRequest(params.model, messages, tools or None, bool(params.stream), params.user)


def response_message(raw: dict[str, Any]) -> Message:
    """The assistant message of an answer, keeping what the call record holds (refusals, audio are left out)."""
    message = _message_dict({**raw, "role": raw.get("role") or "assistant"}, 0)
    message.pop("tool_call_id", None)
    if not message.get("tool_calls"):
        message.pop("tool_calls", None)
    return Message.model_validate(message)


def finish_reason_of(value: Any, message: Message) -> str:
    if value in FINISH_REASONS:
        return str(value)
    return "tool_calls" if message.tool_calls else "stop"


def estimated_usage(request: ParsedRequest, message: Message) -> Usage:
    answer = message.content or json.dumps([c.model_dump() for c in message.tool_calls or []])
    prompt = estimate_tokens(request_chars(request.messages, request.tools))
    completion = estimate_tokens(len(answer))
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


def usage_of(raw: Any, request: ParsedRequest, message: Message) -> Usage:
    if isinstance(raw, dict):
        try:
            return Usage.model_validate({k: raw.get(k) for k in ("prompt_tokens", "completion_tokens",
                                                                   "total_tokens")})
        except ValidationError:
            pass
    return estimated_usage(request, message)


@dataclass
class CallContext:
    """What the caller knows about a call besides the request and the answer."""

    source: Source
    started: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    trace_id: str | None = None
    span_id: str | None = None
    parent_span_id: str | None = None
    route: RouteInfo | None = None  # how the router answered the call (None: no router, or no live route)
    stored: Callable[[CallRecord], None] | None = None  # called once the call's record is durable


def build_record(request: ParsedRequest, answer: dict[str, Any] | None, latency_ms: float, context: CallContext,
                 error: str | None = None) -> CallRecord:
    """The call record of one call from its validated request and the answer's JSON (None for a failed call)."""
    if answer is None:
        message = Message(role="assistant", content=None)
        finish, usage = "error", Usage(prompt_tokens=0, completion_tokens=0, total_tokens=0)
        model, status = request.model, "error"
    else:
        choices = answer.get("choices") or [{}]
        message = response_message(choices[0].get("message") or {})
        finish = finish_reason_of(choices[0].get("finish_reason"), message)
        usage = usage_of(answer.get("usage"), request, message)
        model, status = str(answer.get("model") or request.model), "ok"
    # the parts are validated above; constructing avoids validating the whole record a second time
    return CallRecord.model_construct(
        id=uuid.uuid4().hex, timestamp=context.started, model=model, messages=request.messages,
        tools=request.tools, response=message, finish_reason=finish, usage=usage,
        latency_ms=max(0.0, float(latency_ms)), source=context.source, trace_id=context.trace_id,
        span_id=context.span_id, parent_span_id=context.parent_span_id, status=status, error=error,
        route=context.route)


def error_text(status_code: int, body: bytes | str) -> str:
    """One line saying why an upstream call failed: the status and the error message (or the body's start)."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        detail = json.loads(text)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        detail = text
    return f"upstream HTTP {status_code}: {str(detail)[:ERROR_TEXT_CHARS]}"


class StreamAssembler:
    """Puts a streamed answer's chunks (as dicts) back together into one chat.completion body."""

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self.model: str | None = None

    def add(self, chunk: dict[str, Any]) -> None:
        self.model = chunk.get("model") or self.model
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str):
                self.pieces.append(delta["content"])
            for call in delta.get("tool_calls") or []:
                self._add_tool_delta(call)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]

    def _add_tool_delta(self, call: dict[str, Any]) -> None:
        slot = self.tool_calls.setdefault(int(call.get("index") or 0),
                                          {"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
        if call.get("id"):
            slot["id"] = call["id"]
        function = call.get("function") or {}
        slot["function"]["name"] += function.get("name") or ""
        slot["function"]["arguments"] += function.get("arguments") or ""

    def answer(self) -> dict[str, Any]:
        text = "".join(self.pieces)
        calls = [self.tool_calls[i] for i in sorted(self.tool_calls)]
        message: dict[str, Any] = {"role": "assistant", "content": None if calls and not text else text}
        if calls:
            message["tool_calls"] = calls
        return {"model": self.model, "usage": self.usage,
                "choices": [{"index": 0, "message": message, "finish_reason": self.finish_reason}]}


class SSEParser:
    """Splits a server-sent-events byte stream into whole events, keeping each event's bytes as received."""

    def __init__(self) -> None:
        self.buffer = b""

    def feed(self, data: bytes) -> list[tuple[bytes, str | None]]:
        """The events completed by `data`: (raw bytes including the blank line, the joined data field or None)."""
        self.buffer += data
        events = []
        while True:
            cut = _event_end(self.buffer)
            if cut < 0:
                return events
            raw, self.buffer = self.buffer[:cut], self.buffer[cut:]
            events.append((raw, _event_data(raw)))


def _event_end(buffer: bytes) -> int:
    ends = [i + len(sep) for sep in (b"\n\n", b"\r\n\r\n") if (i := buffer.find(sep)) >= 0]
    return min(ends) if ends else -1


def _event_data(raw: bytes) -> str | None:
    lines = [line[5:].removeprefix(b" ") for line in raw.splitlines() if line.startswith(b"data:")]
    return b"\n".join(lines).decode("utf-8", "replace") if lines else None
