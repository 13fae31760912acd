"""The call record: one captured LLM call, in the shape of the OpenAI chat-completions API.

Every stage reads and writes these. The schema is versioned (`schema_version`); a change that breaks readers bumps
the major number. `llm2slm schema` writes the JSON schema to docs/call_record.schema.json.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SCHEMA_VERSION = "1.1"

Role = Literal["system", "developer", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "function_call", "error"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FunctionCall(_Strict):
    name: str = Field(min_length=1)
    arguments: str = Field(description="JSON-encoded arguments, exactly as the model produced them")


class ToolCall(_Strict):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(_Strict):
    role: Role
    content: str | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None


class FunctionSpec(_Strict):
    name: str = Field(min_length=1)
    description: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)


class Tool(_Strict):
    type: Literal["function"] = "function"
    function: FunctionSpec


class Usage(_Strict):
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    total_tokens: int = Field(ge=0)


class Source(_Strict):
    """Pseudonymous origin of a call: never a raw user or session identifier."""

    agent: str = Field(min_length=1, description="the agent (application) that made the call")
    user: str | None = Field(default=None, description="pseudonymous user id")
    session: str | None = Field(default=None, description="pseudonymous session id")


RouteName = Literal["specialist", "llm", "fallback"]
RouteMode = Literal["off", "shadow", "canary", "on"]


class RouteInfo(_Strict):
    """How the gateway's router answered a call: by a task's specialist, by the LLM, or by the LLM after the
    specialist failed (fallback)."""

    route: RouteName
    task_id: str = Field(description="the task the call was placed in ('none': no task)")
    mode: RouteMode = Field(description="the task's route mode when the call came")
    model: str | None = Field(None, description="the specialist's registered model name")
    version: str | None = Field(None, description="the specialist's model version")
    confidence: float | None = Field(None, ge=0, le=1, description="the specialist's own confidence in its answer")
    threshold: float | None = Field(None, description="the task's calibrated confidence threshold")
    placement_confidence: float | None = Field(None, ge=0, le=1, description="the assigner's confidence in the task")
    fallback_reason: str | None = Field(None, description="why the specialist's answer was not used")


class CallRecord(_Strict):
    """One non-human LLM call made by an agent: request, response, cost and provenance."""

    schema_version: str = SCHEMA_VERSION
    id: str = Field(min_length=1, description="unique id of the call")
    timestamp: datetime
    model: str = Field(min_length=1, description="the LLM that answered")
    messages: list[Message] = Field(min_length=1, description="the request's messages")
    tools: list[Tool] | None = None
    response: Message = Field(description="the assistant message the LLM returned")
    finish_reason: FinishReason
    usage: Usage
    latency_ms: float = Field(ge=0)
    source: Source
    trace_id: str | None = None
    span_id: str | None = None
    parent_span_id: str | None = None
    status: Literal["ok", "error"] = "ok"
    error: str | None = None
    route: RouteInfo | None = Field(None, description="set by the gateway's router (schema 1.1)")

    @field_validator("schema_version")
    @classmethod
    def _known_major(cls, value: str) -> str:
        if value.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
            raise ValueError(f"unsupported schema_version {value!r}; this llm2slm reads {SCHEMA_VERSION}")
        return value

    @field_validator("response")
    @classmethod
    def _assistant_response(cls, value: Message) -> Message:
        if value.role != "assistant":
            raise ValueError(f"response.role must be 'assistant', got {value.role!r}")
        return value

    # ---- convenience views used by the stages ----
    def system_prompt(self) -> str:
        return "\n".join(m.content or "" for m in self.messages if m.role in ("system", "developer"))

    def last_user_message(self) -> str:
        for m in reversed(self.messages):
            if m.role == "user":
                return m.content or ""
        return ""

    def tool_names(self) -> list[str]:
        return [t.function.name for t in self.tools or []]

    def answer_text(self) -> str:
        """The LLM's answer as one canonical string: the content, or the tool calls as a JSON list."""
        return response_to_text(self.response)


def request_payload(messages: list[Message], tools: list[Tool] | None) -> dict[str, Any]:
    """A request's messages and tools as the chat-completions JSON has them: `{"messages": [...], "tools": [...] |
    None}` (what specialists read, what a replayed call sends, what identifies a conversation)."""
    return {"messages": [m.model_dump(mode="json", exclude_none=True) for m in messages],
            "tools": [t.model_dump(mode="json", exclude_none=True) for t in tools] if tools else None}


def response_to_text(message: Message) -> str:
    if message.tool_calls:
        calls = []
        for call in message.tool_calls:
            try:
                args: Any = json.loads(call.function.arguments)
            except json.JSONDecodeError:
                args = call.function.arguments
            calls.append({"name": call.function.name, "arguments": args})
        return json.dumps(calls, sort_keys=True, ensure_ascii=False)
    return (message.content or "").strip()


def json_schema() -> dict[str, Any]:
    schema = CallRecord.model_json_schema()
    schema["$id"] = f"https://llm2slm.dev/schema/call-record/{SCHEMA_VERSION}"
    schema["title"] = "CallRecord"
    return schema


CHARS_PER_TOKEN = 4  # rough size of a token in English text, characters


def estimate_tokens(chars: int) -> int:
    """Tokens in `chars` characters of text, estimated without a tokenizer."""
    return math.ceil(chars / CHARS_PER_TOKEN)


def request_chars(messages: list[Message], tools: list[Tool] | None) -> int:
    """Characters of a request: every message's content plus the tools' JSON."""
    chars = sum(len(m.content or "") for m in messages)
    if tools:
        chars += len(json.dumps([t.model_dump(exclude_none=True) for t in tools], ensure_ascii=False))
    return chars
