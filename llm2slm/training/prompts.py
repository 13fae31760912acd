"""What a specialist sees of a request: the classifier's input text, the generator's chat messages.

Pure functions on plain dicts (or pydantic messages); no torch here, so the router and tests import it cheaply.
Training and inference must render a request identically: both go through these functions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

CLASSIFIER_JOIN = " || "
MAX_TOOL_PARAMS = 12  # parameters listed per tool in the summary; the rest become "..."


def as_dict(item: Any) -> dict[str, Any]:
    """A message or tool as a plain dict (accepts dicts and pydantic models)."""
    if isinstance(item, Mapping):
        return dict(item)
    if hasattr(item, "model_dump"):
        return item.model_dump(exclude_none=True)
    raise TypeError(f"expected a dict or a pydantic model, got {type(item).__name__}")


def tool_calls_text(tool_calls: Sequence[Any]) -> str:
    """Tool calls as the canonical JSON list of {name, arguments} (the form of `schema.response_to_text`)."""
    calls = []
    for call in tool_calls:
        function = as_dict(as_dict(call).get("function") or {})
        raw = function.get("arguments", "{}")
        try:
            args: Any = json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError:
            args = raw
        calls.append({"name": function.get("name", ""), "arguments": args})
    return json.dumps(calls, sort_keys=True, ensure_ascii=False)


def message_text(message: Mapping[str, Any]) -> str:
    """The text of one message: its content, or its tool calls as canonical JSON."""
    content = message.get("content")
    if isinstance(content, list):  # OpenAI content parts: keep the text parts
        content = " ".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    if content:
        return str(content)
    if message.get("tool_calls"):
        return tool_calls_text(message["tool_calls"])
    return ""


def classifier_input_text(messages: Sequence[Any]) -> str:
    """The last user message, then the assistant turn before it (if any), joined by ' || '.

    The user message comes first so that truncation to max_length drops context, not the request itself.
    """
    msgs = [as_dict(m) for m in messages]
    user_at = next((i for i in range(len(msgs) - 1, -1, -1) if msgs[i].get("role") == "user"), None)
    if user_at is None:
        return message_text(msgs[-1]) if msgs else ""
    text = message_text(msgs[user_at]).strip()
    previous = next((msgs[i] for i in range(user_at - 1, -1, -1) if msgs[i].get("role") == "assistant"), None)
    if previous is not None and message_text(previous).strip():
        text = f"{text}{CLASSIFIER_JOIN}{message_text(previous).strip()}"
    return text


def _param_summary(name: str, spec: Mapping[str, Any], required: bool) -> str:
    kind = spec.get("type", "any")
    if isinstance(kind, list):
        kind = "|".join(str(k) for k in kind)
    if "enum" in spec:
        kind = "|".join(json.dumps(v) for v in spec["enum"][:6])
    return f"{name}{'' if required else '?'}: {kind}"


def summarise_tools(tools: Sequence[Any] | None) -> str:
    """One line per tool: `name(param: type, optional?: type)`; descriptions are left out to keep prompts short."""
    lines = []
    for tool in tools or []:
        function = as_dict(as_dict(tool).get("function") or {})
        params = function.get("parameters") or {}
        props = params.get("properties") or {}
        required = set(params.get("required") or [])
        parts = [_param_summary(n, s if isinstance(s, Mapping) else {}, n in required) for n, s in props.items()]
        if len(parts) > MAX_TOOL_PARAMS:
            parts = parts[:MAX_TOOL_PARAMS] + ["..."]
        lines.append(f"{function.get('name', '?')}({', '.join(parts)})")
    if not lines:
        return ""
    return "Tools (answer with a JSON list of {name, arguments} to call them):\n" + "\n".join(lines)


def chat_messages(messages: Sequence[Any], tools: Sequence[Any] | None) -> list[dict[str, str]]:
    """The request as plain {role, content} turns that any chat template accepts.

    System and developer messages become one leading system turn, with the tools summarised at its end;
    an assistant turn that called tools shows its calls as canonical JSON; tool results keep role 'tool'.
    """
    system_parts: list[str] = []
    turns: list[dict[str, str]] = []
    for message in (as_dict(m) for m in messages):
        role = message.get("role", "user")
        text = message_text(message)
        if role in ("system", "developer"):
            system_parts.append(text)
        elif role in ("user", "assistant", "tool"):
            turns.append({"role": role, "content": text})
        else:
            turns.append({"role": "user", "content": text})
    summary = summarise_tools(tools)
    if summary:
        system_parts.append(summary)
    system = "\n\n".join(p for p in system_parts if p.strip())
    return ([{"role": "system", "content": system}] if system else []) + turns


def training_texts(rows: Sequence[Mapping[str, Any]], decoding: str = "none") -> list[str]:
    """Every text a generator sees for these rows (turn contents and answers, in the layout of `decoding`): a
    tokenizer's training corpus."""
    from llm2slm.training.answer_format import generation_target

    texts: list[str] = []
    for row in rows:
        texts.extend(t["content"] for t in chat_messages(row.get("messages") or [], row.get("tools")))
        texts.append(generation_target(str(row.get("answer", "")), decoding))
    return texts
