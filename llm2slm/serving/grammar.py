"""What a constrained generator may write, as JSON Schemas and regexes (pure: no torch, no decoding library).

- `tool_call_schema(tools)`: the JSON Schema of a tool-call list in the generated layout
  (`llm2slm.training.answer_format`): one `anyOf` branch per offered tool, `{"name": <const>, "arguments": <that
  tool's parameters>}`, the name first and every `properties` map in sorted key order, so the grammar fixes the
  order the generator was trained on.
- `TEXT_REGEX`: a text answer that is not a tool call (its first character is neither white space nor `[`, which
  `serving.answers` reads as the start of a tool-call list). In "tools" mode the generator chooses between the two.
- `JSON_OBJECT_SCHEMA`: "json" mode, any JSON object.
- `answer_problem(answer, decoding, tools)`: why a canonical answer would not stand in for the LLM's, or None.

A tool whose `parameters` is not a valid JSON Schema raises `ValueError` naming the tool (`checked_tools`): the
caller decides whether the LLM answers instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from llm2slm.training.answer_format import json_object, tool_calls
from llm2slm.training.prompts import as_dict

TEXT_REGEX = r"[^\[\s][\s\S]*"  # text: any characters, the first neither white space nor '['
JSON_OBJECT_SCHEMA: dict[str, Any] = {"type": "object"}
NO_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMA_ONE = ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames")


def tool_parameters(tool: Any) -> tuple[str, dict[str, Any]]:
    """(name, parameters JSON Schema) of an OpenAI tool `{"type": "function", "function": {...}}` (dict or model)."""
    function = as_dict(as_dict(tool).get("function") or {})
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("a tool has no function name")
    parameters = function.get("parameters")
    if parameters is None:
        return name, dict(NO_PARAMETERS)
    if not isinstance(parameters, Mapping):
        raise ValueError(f"tool {name!r}: parameters must be a JSON Schema object, not {type(parameters).__name__}")
    return name, dict(parameters)


def checked_tools(tools: Sequence[Any]) -> list[tuple[str, dict[str, Any]]]:
    """(name, parameters) per tool, each parameters checked as a JSON Schema; ValueError naming a bad tool."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    out: list[tuple[str, dict[str, Any]]] = []
    for tool in tools:
        name, parameters = tool_parameters(tool)
        try:
            Draft202012Validator.check_schema(parameters)
        except SchemaError as exc:
            raise ValueError(f"tool {name!r}: parameters are not a valid JSON Schema: {exc.message}") from exc
        if parameters.get("type", "object") not in ("object", ["object"]):
            raise ValueError(f"tool {name!r}: parameters must describe a JSON object, not {parameters['type']!r}")
        out.append((name, parameters))
    names = [name for name, _ in out]
    if len(set(names)) != len(names):
        raise ValueError(f"tools: a name is offered twice in {names}")
    return out


def sorted_schema(schema: Any) -> Any:
    """The schema with every `properties` map (at any depth) in sorted key order; everything else as is."""
    if isinstance(schema, list):
        return [sorted_schema(item) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _SUBSCHEMA_MAPS and isinstance(value, Mapping):
            names = sorted(value) if key == "properties" else list(value)
            out[key] = {name: sorted_schema(value[name]) for name in names}
        elif key in _SUBSCHEMA_LISTS and isinstance(value, list):
            out[key] = [sorted_schema(item) for item in value]
        elif key in _SUBSCHEMA_ONE:
            out[key] = sorted_schema(value)
        else:
            out[key] = value
    return out


def _arguments_schema(parameters: Mapping[str, Any]) -> dict[str, Any]:
    arguments = sorted_schema(parameters)
    arguments.setdefault("type", "object")  # arguments are always an object, even when the schema omits the type
    return arguments


def tool_call_schema(tools: Sequence[Any], max_calls: int | None = None) -> dict[str, Any]:
    """The JSON Schema of a non-empty list of calls to the offered tools, in the generated layout; at most
    `max_calls` calls (the most the LLM made in one answer in training), so a generator that repeats a call ends
    the list instead of running into its token limit unparsed."""
    branches = [{"type": "object",
                 "properties": {"name": {"const": name}, "arguments": _arguments_schema(parameters)},
                 "required": ["name", "arguments"], "additionalProperties": False}
                for name, parameters in checked_tools(tools)]
    if not branches:
        raise ValueError("tools: the request offers no tool to call")
    schema: dict[str, Any] = {"type": "array", "minItems": 1, "items": {"anyOf": branches}}
    if max_calls is not None:
        schema["maxItems"] = max(1, int(max_calls))
    return schema


def tools_key(tools: Sequence[Any] | None) -> str:
    """One string per tool set (names and parameters, in order): the key of a compiled-grammar cache."""
    specs = [tool_parameters(tool) for tool in tools or []]
    return json.dumps(specs, sort_keys=True, ensure_ascii=False, default=str)


def answer_problem(answer: str, decoding: str, tools: Sequence[Any] | None) -> str | None:
    """Why a canonical answer of a constrained generator would not stand in for the LLM's, or None when it would.

    "json": the answer must be a JSON object. "tools": a tool-call list naming only offered tools with arguments
    valid against their schema, or text that is not a tool call (does not start with '[').
    """
    if decoding == "json":
        return None if json_object(answer) is not None else "not a JSON object"
    if decoding != "tools" or not answer.strip().startswith("["):
        return None
    calls = tool_calls(answer)
    if calls is None:
        return "starts like a tool-call list but is not one"
    from jsonschema import Draft202012Validator

    offered = dict(checked_tools(tools or []))
    for call in calls:
        if call["name"] not in offered:
            return f"tool {call['name']!r} was not offered"
        error = next(iter(Draft202012Validator(offered[call["name"]]).iter_errors(call.get("arguments", {}))), None)
        if error is not None:
            return f"arguments of {call['name']!r}: {error.message}"
    return None
