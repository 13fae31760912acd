"""OpenTelemetry GenAI spans (OTLP JSON) to call records.

Input: an OTLP/JSON `ExportTraceServiceRequest` ({"resourceSpans": [...]}), either one JSON document or one per
line (what the OpenTelemetry Collector's file exporter writes). A span is an LLM call when it carries `gen_ai.*`
request attributes (and its `gen_ai.operation.name`, if any, is chat, text_completion or generate_content) or
OpenInference's `openinference.span.kind` = LLM; other spans (agent, tool, chain, embedding) are counted and
skipped. Three attribute layouts are read, first match wins:
- semantic conventions >= 1.37: `gen_ai.system_instructions`, `gen_ai.input.messages`, `gen_ai.output.messages`
  (JSON, messages of typed parts) and `gen_ai.tool.definitions`;
- OpenLLMetry: `gen_ai.prompt.N.role|content|tool_call_id|tool_calls.M.{id,name,arguments}`, the same under
  `gen_ai.completion.N.*` (plus `finish_reason`), tools as `llm.request.functions.N.{name,description,parameters}`;
- OpenInference: `llm.input_messages.N.message.{role,content,tool_call_id}`,
  `...message.tool_calls.M.tool_call.{id,function.name,function.arguments}`, `llm.output_messages.N.message.*`,
  tools as `llm.tools.N.tool.json_schema`, model as `llm.model_name`, tokens as `llm.token_count.*`.
Trace id, span id and parent span id are kept; the record id is `otel-<trace id>-<span id>`, so a re-import is
idempotent. Source: agent = resource `service.name` (or `gen_ai.agent.name`), user = `user.id`/`enduser.id`,
session = `session.id`/`gen_ai.conversation.id`. Missing token counts are estimated from the characters.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from llm2slm.capture.imports import IngestError, open_text, validation_reason
from llm2slm.common.schema import CallRecord, estimate_tokens

CONTENT_HINT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true, or TRACELOOP_TRACE_CONTENT=true"
LLM_OPERATIONS = {"chat", "text_completion", "generate_content"}
FINISH_ALIASES = {"tool_call": "tool_calls", "tool_use": "tool_calls", "max_tokens": "length",
                  "end_turn": "stop", "stop_sequence": "stop", "eos": "stop", "content_filtered": "content_filter"}
FINISH_REASONS = {"stop", "length", "tool_calls", "content_filter", "function_call", "error"}
_HEX = re.compile(r"^[0-9a-f]+$")


class SpanError(ValueError):
    """One span cannot become a call record; the message says why."""


# ---- OTLP JSON values ----
def any_value(value: dict[str, Any]) -> Any:
    """The Python value of an OTLP AnyValue ({"stringValue": ...}, {"intValue": "3"}, arrays, kvlists)."""
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        return [any_value(v) for v in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return attributes(value["kvlistValue"].get("values", []))
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def attributes(items: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {item["key"]: any_value(item.get("value") or {}) for item in items or []}


def _hex_id(value: Any, n_bytes: int, field: str, required: bool) -> str | None:
    """An OTLP id as lowercase hex: hex as the OTLP JSON spec writes it, or base64 as protobuf JSON does."""
    if value in (None, ""):
        if required:
            raise SpanError(f"{field} is missing")
        return None
    text = str(value)
    if len(text) == 2 * n_bytes and _HEX.match(text.lower()):
        return text.lower()
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != n_bytes:
        raise SpanError(f"{field} {text!r} is not {n_bytes} bytes of hex")
    return raw.hex()


def _time(value: Any, field: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SpanError(f"{field} {value!r} is not a time in nanoseconds") from None


# ---- messages in the three layouts ----
def _indexed(attrs: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """`prefix.N.rest = v` attributes as a list (by N) of {rest: v}."""
    groups: dict[int, dict[str, Any]] = {}
    for key, value in attrs.items():
        if key.startswith(prefix + "."):
            index, _, rest = key[len(prefix) + 1:].partition(".")
            if index.isdigit() and rest:
                groups.setdefault(int(index), {})[rest] = value
    return [groups[i] for i in sorted(groups)]


def _tool_calls(flat: dict[str, Any], prefix: str, id_key: str, name_key: str, args_key: str) -> list[dict] | None:
    calls = [{"id": str(c.get(id_key) or f"call_{i}"), "type": "function",
              "function": {"name": c.get(name_key), "arguments": _as_text(c.get(args_key, "{}"))}}
             for i, c in enumerate(_indexed(flat, prefix))]
    return calls or None


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _message(role: Any, content: Any, tool_calls: list[dict] | None, tool_call_id: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"role": role, "content": _as_text(content)}
    if tool_calls:
        message["tool_calls"] = tool_calls
    if tool_call_id:
        message["tool_call_id"] = str(tool_call_id)
    return message


def _openllmetry(attrs: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    return [_message(m.get("role", "assistant" if "completion" in prefix else "user"), m.get("content"),
                     _tool_calls(m, "tool_calls", "id", "name", "arguments"), m.get("tool_call_id"))
            for m in _indexed(attrs, prefix)]


def _openinference(attrs: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    return [_message(m.get("message.role"), m.get("message.content"),
                     _tool_calls(m, "message.tool_calls", "tool_call.id", "tool_call.function.name",
                                 "tool_call.function.arguments"), m.get("message.tool_call_id"))
            for m in _indexed(attrs, prefix)]


def _semconv(value: Any, field: str) -> list[dict[str, Any]]:
    """Messages of `gen_ai.input.messages` / `gen_ai.output.messages`: role + typed parts."""
    try:
        items = json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError as exc:
        raise SpanError(f"{field} is not JSON: {exc}") from None
    if not isinstance(items, list):
        raise SpanError(f"{field} is not a list of messages")
    messages = []
    for item in items:
        parts = item.get("parts") or []
        text = "\n".join(str(p.get("content", "")) for p in parts if p.get("type") == "text") or None
        calls = [{"id": str(p.get("id") or f"call_{i}"), "type": "function",
                  "function": {"name": p.get("name"), "arguments": _as_text(p.get("arguments", {}))}}
                 for i, p in enumerate(parts) if p.get("type") == "tool_call"]
        response = next((p for p in parts if p.get("type") == "tool_call_response"), None)
        if response is not None:
            text = _as_text(response.get("response"))
        message = _message(item.get("role"), text, calls, response.get("id") if response else None)
        if item.get("finish_reason"):
            message["_finish"] = item["finish_reason"]
        messages.append(message)
    return messages


def _conversation(attrs: dict[str, Any]) -> tuple[list[dict], list[dict]]:
    """(request messages, answer messages) from whichever layout the span uses."""
    if "gen_ai.input.messages" in attrs or "gen_ai.output.messages" in attrs:
        system = attrs.get("gen_ai.system_instructions")
        request = _semconv(attrs.get("gen_ai.input.messages", "[]"), "gen_ai.input.messages")
        if system:
            parts = json.loads(system) if isinstance(system, str) and system.startswith("[") else None
            text = "\n".join(p.get("content", "") for p in parts) if isinstance(parts, list) else str(system)
            request.insert(0, {"role": "system", "content": text})
        return request, _semconv(attrs.get("gen_ai.output.messages", "[]"), "gen_ai.output.messages")
    if any(k.startswith("gen_ai.prompt.") for k in attrs):
        return _openllmetry(attrs, "gen_ai.prompt"), _openllmetry(attrs, "gen_ai.completion")
    return _openinference(attrs, "llm.input_messages"), _openinference(attrs, "llm.output_messages")


def _tools(attrs: dict[str, Any]) -> list[dict] | None:
    tools: list[dict] = []
    for f in _indexed(attrs, "llm.request.functions"):
        params = f.get("parameters")
        tools.append({"type": "function", "function": {
            "name": f.get("name"), "description": f.get("description"),
            "parameters": json.loads(params) if isinstance(params, str) and params else params or {}}})
    for t in _indexed(attrs, "llm.tools"):
        schema = json.loads(t["tool.json_schema"]) if isinstance(t.get("tool.json_schema"), str) else {}
        tools.append(schema if "function" in schema else {"type": "function", "function": schema})
    definitions = attrs.get("gen_ai.tool.definitions")
    if definitions:
        for d in json.loads(definitions) if isinstance(definitions, str) else definitions:
            tools.append(d if "function" in d else {"type": "function", "function": {
                k: v for k, v in d.items() if k in ("name", "description", "parameters")}})
    return tools or None


# ---- one span ----
def is_llm_span(attrs: dict[str, Any]) -> bool:
    if str(attrs.get("openinference.span.kind", "")).upper() == "LLM":
        return True
    operation = attrs.get("gen_ai.operation.name")
    if operation is not None:
        return operation in LLM_OPERATIONS
    return any(k in attrs for k in ("gen_ai.system", "gen_ai.provider.name", "gen_ai.request.model"))


def _finish_reason(attrs: dict[str, Any], answer: dict[str, Any], failed: bool) -> str:
    if failed:
        return "error"
    reasons = attrs.get("gen_ai.response.finish_reasons")
    value = (reasons[0] if isinstance(reasons, list) and reasons else reasons) or answer.get("_finish") \
        or answer.get("finish_reason")
    value = FINISH_ALIASES.get(str(value).lower(), str(value).lower()) if value else None
    if value in FINISH_REASONS:
        return value
    return "tool_calls" if answer.get("tool_calls") else "stop"


def _first(attrs: dict[str, Any], *keys: str) -> Any:
    return next((attrs[k] for k in keys if attrs.get(k) not in (None, "")), None)


def _usage(attrs: dict[str, Any], request: list[dict], answer: dict[str, Any]) -> dict[str, int]:
    prompt = _first(attrs, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt")
    completion = _first(attrs, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens",
                        "llm.token_count.completion")
    if prompt is None:
        prompt = estimate_tokens(sum(len(m.get("content") or "") for m in request))
    if completion is None:
        calls = answer.get("tool_calls")
        completion = estimate_tokens(len(answer.get("content") or "") + (len(json.dumps(calls)) if calls else 0))
    total = _first(attrs, "llm.usage.total_tokens", "llm.token_count.total") or int(prompt) + int(completion)
    return {"prompt_tokens": int(prompt), "completion_tokens": int(completion), "total_tokens": int(total)}


def span_to_record(span: dict[str, Any], resource: dict[str, Any]) -> CallRecord:
    """The call record of one LLM span; SpanError or ValidationError when it cannot be one."""
    attrs = attributes(span.get("attributes"))
    trace_id = _hex_id(span.get("traceId"), 16, "traceId", required=True)
    span_id = _hex_id(span.get("spanId"), 8, "spanId", required=True)
    parent = _hex_id(span.get("parentSpanId"), 8, "parentSpanId", required=False)
    start = _time(span.get("startTimeUnixNano"), "startTimeUnixNano")
    end = _time(span.get("endTimeUnixNano", start), "endTimeUnixNano")
    if end < start:
        raise SpanError("endTimeUnixNano is before startTimeUnixNano")
    status = span.get("status") or {}
    failed = status.get("code") in (2, "STATUS_CODE_ERROR")
    model = _first(attrs, "gen_ai.response.model", "gen_ai.request.model", "llm.model_name")
    if model is None:
        raise SpanError("no model (gen_ai.request.model, gen_ai.response.model or llm.model_name)")
    request, answers = _conversation(attrs)
    if not request:
        raise SpanError("no request messages (gen_ai.prompt.N.*, llm.input_messages.N.* or gen_ai.input.messages); "
                        f"is message content capture on in the instrumentation? ({CONTENT_HINT})")
    if not answers and not failed:
        raise SpanError("no answer (gen_ai.completion.N.*, llm.output_messages.N.* or gen_ai.output.messages) "
                        "on a span that did not fail")
    answer = answers[0] if answers else {"role": "assistant", "content": None}
    response = {k: v for k, v in answer.items() if not k.startswith("_")}
    agent = _first({**resource, **attrs}, "gen_ai.agent.name", "service.name") or "otel"
    return CallRecord.model_validate({
        "id": f"otel-{trace_id}-{span_id}",
        "timestamp": datetime.fromtimestamp(start / 1e9, tz=timezone.utc),
        "model": str(model),
        "messages": request,
        "tools": _tools(attrs),
        "response": {**response, "role": response.get("role") or "assistant"},
        "finish_reason": _finish_reason(attrs, answer, failed),
        "usage": _usage(attrs, request, answer),
        "latency_ms": (end - start) / 1e6,
        "source": {"agent": str(agent),
                   "user": _as_text(_first({**resource, **attrs}, "user.id", "enduser.id")),
                   "session": _as_text(_first({**resource, **attrs}, "session.id", "gen_ai.conversation.id"))},
        "trace_id": trace_id, "span_id": span_id, "parent_span_id": parent,
        "status": "error" if failed else "ok",
        "error": status.get("message") or ("the span's status is ERROR" if failed else None),
    })


# ---- files ----
def _documents(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, parsed JSON) of each ExportTraceServiceRequest in the file: one document, or one per line."""
    with open_text(path) as handle:
        text = handle.read()
    try:
        yield "", json.loads(text)
        return
    except json.JSONDecodeError:
        pass
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                yield f"line {number}: ", json.loads(line)
            except json.JSONDecodeError as exc:
                raise IngestError(path, [(number, f"not JSON: {exc.msg}")]) from None


def iter_spans(path: Path) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(where, span, resource attributes) for every span of the file, in order."""
    for prefix, document in _documents(path):
        if not isinstance(document, dict) or not isinstance(document.get("resourceSpans"), list):
            raise IngestError(path, [(f"{prefix}document", "no resourceSpans list: not OTLP JSON traces")])
        for r, resource_spans in enumerate(document["resourceSpans"]):
            resource = attributes((resource_spans.get("resource") or {}).get("attributes"))
            for s, scope_spans in enumerate(resource_spans.get("scopeSpans") or []):
                for i, span in enumerate(scope_spans.get("spans") or []):
                    yield f"{prefix}resourceSpans[{r}].scopeSpans[{s}].spans[{i}]", span, resource


def parse_otlp_file(path: Path, max_problems: int = 20) -> tuple[list[CallRecord], int]:
    """(call records of the file's LLM spans, number of other spans skipped); IngestError naming each bad span."""
    records: list[CallRecord] = []
    problems: list[tuple[int | str, str]] = []
    skipped = bad = 0
    try:
        for index, (where, span, resource) in enumerate(iter_spans(path)):
            attrs = attributes(span.get("attributes"))
            if not is_llm_span(attrs):
                skipped += 1
                continue
            try:
                records.append(span_to_record(span, resource))
            except (SpanError, ValidationError, ValueError, TypeError, AttributeError) as exc:
                bad += 1
                reason = validation_reason(exc) if isinstance(exc, ValidationError) else str(exc)
                if len(problems) < max_problems:
                    problems.append((f"span {index} ({where}, name {span.get('name')!r})", reason))
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise IngestError(path, [(0, f"cannot read file: {exc}")]) from exc
    if bad:
        raise IngestError(path, problems, bad)
    if not records:
        raise IngestError(path, [(0, f"no LLM call spans among the file's {skipped} span(s)")])
    return records, skipped
