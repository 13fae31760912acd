"""The two texts that stand for a call when it is embedded: its shape and its content.

A sub-task is first a shape of call (the system prompt's template, the tools offered), and only then a region of
content: the shape is the start of the system prompt and the names of the tools; the content is what the user
asked (after the assistant's preceding turn when there is one, as in a slot-filling dialogue).
"""

from __future__ import annotations

import re

from llm2slm.common.schema import CallRecord

SYSTEM_CHARS = 300
_SPACES = re.compile(r"\s+")
_DIGITS = re.compile(r"\d+")


def mask_variables(text: str) -> str:
    """A system prompt with its numeric variables (dates, counts, ids) masked as `0`, so one template is one text."""
    return _DIGITS.sub("0", text)


def _squash(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def previous_assistant_turn(record: CallRecord) -> str:
    """The content of the assistant message just before the last user message, or ''."""
    seen_user = False
    for message in reversed(record.messages):
        if message.role == "user":
            if seen_user:
                return ""
            seen_user = True
        elif message.role == "assistant" and seen_user:
            return message.content or ""
    return ""


def user_text(record: CallRecord) -> str:
    """What the user asked in this call: the last user message."""
    return _squash(record.last_user_message())


def shape_text(record: CallRecord, system_chars: int = SYSTEM_CHARS) -> str:
    """The structural half of a call: the start of its system prompt (numbers masked) and the names of the tools
    offered ('' if neither)."""
    parts = []
    system = mask_variables(_squash(record.system_prompt()))[:system_chars]
    if system:
        parts.append(f"system: {system}")
    tools = record.tool_names()
    if tools:
        parts.append("tools: " + ", ".join(tools))
    return "\n".join(parts)


def content_text(record: CallRecord, max_chars: int = 600) -> str:
    """The content half of a call: the assistant's preceding turn (if any) and the user's message."""
    before = _squash(previous_assistant_turn(record))
    text = f"assistant: {before}\nuser: {user_text(record)}" if before else f"user: {user_text(record)}"
    return text[:max_chars]
