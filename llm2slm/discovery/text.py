"""The text that stands for a call when it is embedded: its shape first, then its content.

A sub-task is first a shape of call (the system prompt's template, the tools offered), and only then a region of
content, so the embedded text leads with the start of the system prompt and the names of the tools, and ends with
what the user asked (after the assistant's preceding turn when there is one, as in a slot-filling dialogue).
"""

from __future__ import annotations

import re

from llm2slm.schema import CallRecord

SYSTEM_CHARS = 300
_SPACES = re.compile(r"\s+")


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


def call_text(record: CallRecord, max_chars: int = 600, system_chars: int = SYSTEM_CHARS) -> str:
    """Structural-plus-content text of one call, at most `max_chars` characters."""
    parts = []
    system = _squash(record.system_prompt())[:system_chars]
    if system:
        parts.append(f"system: {system}")
    tools = record.tool_names()
    if tools:
        parts.append("tools: " + ", ".join(tools))
    before = _squash(previous_assistant_turn(record))
    if before:
        parts.append(f"assistant: {before}")
    parts.append(f"user: {user_text(record)}")
    return "\n".join(parts)[:max_chars]
