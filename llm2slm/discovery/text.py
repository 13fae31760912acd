"""The two texts that stand for a call when it is embedded: its shape and its content.

A sub-task is first a shape of call (the system prompt's template, the tools offered), and only then a region of
content: the shape is the start of the system prompt and the names of the tools; the content is what the user
asked (after the assistant's preceding turn when there is one, as in a slot-filling dialogue), without the
instruction a framework wrapped around it: given the mined `Templates`, only the variable part of the last user
message (and of a tool result the call ends with) is content; the instruction is structure, compared by template
(`requests`), not embedded. With no templates every line is content.
"""

from __future__ import annotations

import re

from llm2slm.common.schema import CallRecord
from llm2slm.common.templates import Templates

NO_TEMPLATES = Templates()

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


def user_text(record: CallRecord, templates: Templates = NO_TEMPLATES) -> str:
    """What the user asked in this call: the last user message (its variable part, given the templates)."""
    text = record.last_user_message()
    return _squash(templates.split("user", text).variable if templates.lines else text)


def tool_result(record: CallRecord, templates: Templates = NO_TEMPLATES) -> str:
    """The variable part of the tool result the call ends with, or '' when its last message is not one."""
    if not record.messages or record.messages[-1].role != "tool":
        return ""
    return _squash(templates.split("tool", record.messages[-1].content or "").variable)


def shape_text(record: CallRecord, system_chars: int = SYSTEM_CHARS) -> str:
    """The structural half of a call: the start of its system prompt (numbers masked), the names of the tools
    offered and, when the call answers a tool's result, that fact ('' if none of these)."""
    parts = []
    system = mask_variables(_squash(record.system_prompt()))[:system_chars]
    if system:
        parts.append(f"system: {system}")
    tools = record.tool_names()
    if tools:
        parts.append("tools: " + ", ".join(tools))
    if record.messages and record.messages[-1].role == "tool":
        parts.append("answering: a tool result")
    return "\n".join(parts)


def content_text(record: CallRecord, max_chars: int = 600, templates: Templates = NO_TEMPLATES) -> str:
    """The content half of a call: the assistant's preceding turn (if any), the user's message and the tool
    result it ends with (if any), each without its template lines."""
    before = _squash(previous_assistant_turn(record))
    text = f"assistant: {before}\nuser: {user_text(record, templates)}" if before else \
        f"user: {user_text(record, templates)}"
    result = tool_result(record, templates)
    if result:
        text += f"\ntool: {result}"
    return text[:max_chars]
