"""The text a generator specialist is trained to write, and back to the task dataset's canonical answer.

A task dataset holds the LLM's answer in canonical form (`prompts.tool_calls_text`: a JSON list of
`{"arguments", "name"}` written with `sort_keys=True`, or a JSON object, or free text). Under constrained decoding
(`decoding`, a recipe field) the generator writes a layout the grammar can fix token by token:

- "tools": a tool-call list written compactly with the function name BEFORE its arguments, argument keys sorted at
  every depth: `[{"name":"GetWeather","arguments":{"city":"Paris","unit":"C"}}]`. The name first lets the grammar
  pick that tool's argument schema; sorted keys let it fix the key order. Any other answer (text) is unchanged.
- "json": a JSON object written compactly with its keys sorted; any other answer is unchanged.
- "none": every answer unchanged (the layout of specialists trained before constrained decoding).

`canonical_answer` turns generated text back into the canonical form, so that agreement compares like with like.
Pure functions, no torch.
"""

from __future__ import annotations

import json
from typing import Any, Literal

Decoding = Literal["none", "json", "tools"]
DECODINGS: tuple[str, ...] = ("none", "json", "tools")
COMPACT = (",", ":")  # JSON separators of the generated layout: no spaces, fewer tokens


def _check(decoding: str) -> None:
    if decoding not in DECODINGS:
        raise ValueError(f"decoding {decoding!r} is not one of {', '.join(DECODINGS)}")


def _parsed(text: str) -> Any:
    """The JSON value of the text, or None when it is not JSON."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def tool_calls(text: str) -> list[dict[str, Any]] | None:
    """The calls of a tool-call list answer (each a dict with a string `name` and object `arguments`), else None."""
    stripped = text.strip()
    if not stripped.startswith("["):
        return None
    value = _parsed(stripped)
    if not isinstance(value, list) or not value:
        return None
    for call in value:
        if not (isinstance(call, dict) and isinstance(call.get("name"), str)
                and isinstance(call.get("arguments", {}), dict) and set(call) <= {"name", "arguments"}):
            return None
    return value


def json_object(text: str) -> dict[str, Any] | None:
    """The object of a JSON-object answer, else None."""
    value = _parsed(text.strip()) if text.strip().startswith("{") else None
    return value if isinstance(value, dict) else None


def _sorted_keys(value: Any) -> Any:
    """The value with the keys of every object in it in sorted order (json.dumps keeps dict order)."""
    if isinstance(value, dict):
        return {key: _sorted_keys(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted_keys(item) for item in value]
    return value


def generated_tool_calls_text(calls: list[dict[str, Any]]) -> str:
    """Tool calls in the generated layout: compact, name before arguments, argument keys sorted."""
    ordered = [{"name": call["name"], "arguments": _sorted_keys(call.get("arguments", {}))} for call in calls]
    return json.dumps(ordered, separators=COMPACT, ensure_ascii=False)


def generation_target(answer: str, decoding: str) -> str:
    """The text the generator is trained to write for a canonical task answer."""
    _check(decoding)
    if decoding == "tools":
        calls = tool_calls(answer)
        return answer if calls is None else generated_tool_calls_text(calls)
    if decoding == "json":
        value = json_object(answer)
        return answer if value is None else json.dumps(value, separators=COMPACT, sort_keys=True, ensure_ascii=False)
    return answer


def canonical_answer(generated: str, decoding: str) -> str:
    """The canonical task-dataset form of generated text (text that is not a call or an object: unchanged)."""
    _check(decoding)
    if decoding == "tools":
        calls = tool_calls(generated)
        if calls is None:
            return generated
        canonical = [{"name": call["name"], "arguments": call.get("arguments", {})} for call in calls]
        return json.dumps(canonical, sort_keys=True, ensure_ascii=False)
    if decoding == "json":
        value = json_object(generated)
        return generated if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)
    return generated
