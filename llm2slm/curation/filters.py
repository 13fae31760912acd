"""Filters that drop calls a specialist should not learn from, each with a named reason.

Reasons, tried in this order (the first that applies is counted):
- `error`: the call failed (`status` error or `finish_reason` error).
- `specialist_answer`: a specialist answered the call, not the LLM (the gateway's route `specialist`): a model
  must never be trained on its own answers as if they were the LLM's.
- `empty_response`: the answer has neither text nor tool calls.
- `truncated`: the answer was cut at the token limit (`finish_reason` length).
- `invalid_tool_spec`: a tool the request offered has parameters that are not a valid JSON Schema (Draft 2020-12),
  or a `$ref` in them that does not resolve within that schema: its calls cannot be checked, and the router refuses
  every call to such a tool, so the specialist must not learn to make them (or to reply around them).
- `invalid_tool_call`: a tool call whose arguments are not a JSON object, name a tool the request did not offer,
  or do not match that tool's JSON schema (required keys, types, enums).
- `refusal`: the provider's content filter stopped the answer (`finish_reason` content_filter), or a text answer
  starts like a refusal (curate.refusal_patterns). An answer that says no tool fits is a valid answer, not a refusal.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from referencing.exceptions import Unresolvable

from llm2slm.common.schema import CallRecord

REASONS = ("error", "specialist_answer", "empty_response", "truncated", "invalid_tool_spec", "invalid_tool_call",
           "refusal")


SPEC_URI = "urn:llm2slm:tool-parameters"  # the base URI a tool's own `#/...` references resolve against


class FailureFilter:
    """The configured reasons, with compiled refusal patterns and cached schema validators."""

    def __init__(self, reasons: list[str] | tuple[str, ...] = REASONS, refusal_patterns: list[str] | None = None):
        unknown = set(reasons) - set(REASONS)
        if unknown:
            raise ValueError(f"unknown drop reasons {sorted(unknown)}: expected some of {list(REASONS)}")
        self.reasons = tuple(r for r in REASONS if r in reasons)
        self.refusals = [re.compile(p, re.IGNORECASE) for p in refusal_patterns or []]

    def reason(self, record: CallRecord) -> str | None:
        """Why a call is unusable as a training example, or None when it is fine."""
        for name in self.reasons:
            if getattr(self, f"_{name}")(record):
                return name
        return None

    def _error(self, record: CallRecord) -> bool:
        return record.status == "error" or record.finish_reason == "error"

    def _specialist_answer(self, record: CallRecord) -> bool:
        route = getattr(record, "route", None)
        return route is not None and route.route == "specialist"

    def _empty_response(self, record: CallRecord) -> bool:
        return not (record.response.content or "").strip() and not record.response.tool_calls

    def _truncated(self, record: CallRecord) -> bool:
        return record.finish_reason == "length"

    def _invalid_tool_spec(self, record: CallRecord) -> bool:
        return any(tool_spec_problem(tool.function.parameters) for tool in record.tools or [])

    def _invalid_tool_call(self, record: CallRecord) -> bool:
        return any(tool_call_problem(record, i) for i in range(len(record.response.tool_calls or [])))

    def _refusal(self, record: CallRecord) -> bool:
        if record.finish_reason == "content_filter":
            return True
        text = (record.response.content or "").strip().replace("\u2019", "'")
        return bool(text) and not record.response.tool_calls and any(p.search(text) for p in self.refusals)


def tool_call_problem(record: CallRecord, index: int) -> str | None:
    """What is wrong with the response's tool call `index`, or None."""
    call = record.response.tool_calls[index].function
    try:
        arguments = json.loads(call.arguments or "{}")
    except json.JSONDecodeError:
        return "arguments are not JSON"
    if not isinstance(arguments, dict):
        return "arguments are not a JSON object"
    specs = {t.function.name: t.function.parameters for t in record.tools or []}
    if not specs:
        return None  # no tools declared: nothing to check against
    if call.name not in specs:
        return f"tool {call.name!r} was not offered"
    validator = _validator(json.dumps(specs[call.name], sort_keys=True))
    if isinstance(validator, str):
        return None  # an unusable schema is `invalid_tool_spec`'s (tool_spec_problem)
    try:
        error = next(iter(validator.iter_errors(arguments)), None)
    except Unresolvable as exc:  # a reference the static check could not follow: never a crash
        return f"the tool's schema has a reference that does not resolve: {exc}"
    return f"arguments do not match the schema: {error.message}" if error else None


def tool_spec_problem(parameters: dict[str, Any]) -> str | None:
    """What makes a tool's `parameters` an unusable JSON Schema, or None."""
    problem = _validator(json.dumps(parameters, sort_keys=True))
    return problem if isinstance(problem, str) else None


@lru_cache(maxsize=4096)
def _validator(schema_json: str) -> Any:
    """A JSON-schema validator for one tool's parameters ({} reads as any object), or why the schema is unusable:
    it fails the Draft 2020-12 meta-schema, or one of its `$ref`s does not resolve within it."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    schema = json.loads(schema_json) or {"type": "object"}
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return f"not a valid JSON Schema: {exc.message}"
    if isinstance(schema, dict):
        resolver = Registry().with_resource(SPEC_URI, DRAFT202012.create_resource(schema)).resolver(SPEC_URI)
        for ref in _refs(schema):
            try:
                resolver.lookup(ref)
            except Unresolvable:
                return f"$ref {ref!r} does not resolve within the tool's schema"
    return Draft202012Validator(schema)


def _refs(value: Any) -> list[str]:
    """Every `$ref` string in a schema, depth first."""
    if isinstance(value, dict):
        own = [value["$ref"]] if isinstance(value.get("$ref"), str) else []
        return own + [ref for item in value.values() for ref in _refs(item)]
    if isinstance(value, list):
        return [ref for item in value for ref in _refs(item)]
    return []
