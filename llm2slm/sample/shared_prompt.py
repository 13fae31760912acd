"""The shared-prompt variant of the sample trace: one generic system prompt, the sub-task's instruction in the user turn.

Many agent frameworks put one generic system prompt on every call and write the task's instruction into the user
message ("Classify this request into one of ...", "Extract the booking details ..."), often in several wordings.
`to_shared_prompt` turns the bundled trace into that form: every call's kind-specific system prompt is replaced by
`SHARED_SYSTEM_PROMPT`, and the last user turn becomes `<instruction>\\n\\n<user text>` (or the instruction after the
text, for one wording of each kind). Each kind has `WORDINGS_PER_KIND` paraphrases of its instruction; each one embeds
the variable part of the record's own system prompt (the intent or category list, the field list), so the request
still carries everything the answer needs. Answers, ids, timestamps, usage, tools and provenance are unchanged.

The wording is picked by a hash of the seed and the call's original request (messages and tools), not by random
state: the same seed gives the same output, and a re-sent request (a duplicate, a retry after a failure, a repeated
question) keeps one wording, so it is still an exact re-send, as the answer key's flags say.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from string import Template
from typing import Callable

from llm2slm.common.schema import CallRecord, Message
from llm2slm.sample.common import SGD_KINDS

SHARED_SYSTEM_PROMPT = (
    "You are a helpful assistant. Follow the instruction in the user's message and answer exactly in the format "
    "it asks for."
)
SYSTEM_ROLES: tuple[str, ...] = ("system", "developer")
KEPT_KINDS: frozenset[str] = frozenset(SGD_KINDS)  # kinds whose calls keep their own system prompt and turns


@dataclass(frozen=True)
class Wording:
    """One paraphrase of a kind's instruction: a `string.Template` over the prompt's parts, placed before or after."""

    template: str
    after: bool = False

    def render(self, parts: dict[str, str]) -> str:
        return Template(self.template).substitute(parts)


def bullet_list(prompt: str) -> dict[str, str]:
    """The first run of `- ` lines of a classification prompt (its label list), as `$labels`."""
    match = re.search(r"(?m)^- .*(?:\n- .*)*", prompt)
    if match is None:
        raise ValueError("system prompt has no '- ' label list to carry into the instruction")
    return {"labels": match.group(0)}


def field_list(prompt: str) -> dict[str, str]:
    """The comma-separated fields after "extract these fields:" in an extraction prompt, as `$fields`."""
    match = re.search(r"extract these fields: ([^\n]+?)\.(?:\n|$)", prompt)
    if match is None:
        raise ValueError("system prompt names no 'extract these fields:' list to carry into the instruction")
    return {"fields": match.group(1)}


def no_parts(prompt: str) -> dict[str, str]:
    """Tool calling: the tool specifications travel in the `tools` field, the prompt has no variable part."""
    return {}


ROUTING = (
    Wording('Classify this request into one of the assistant\'s intents.\n\nIntents, grouped by area:\n$labels\n\n'
            'If none of them fits, use "oos" (out of scope). Answer with one JSON object and nothing else, for '
            'example {"intent": "weather"}.\n\nRequest:'),
    Wording('Which skill should handle the message below? Pick exactly one intent from this list:\n$labels\n'
            'Use "oos" when nothing fits. Reply only with JSON of the form {"intent": "<intent>"}.'),
    Wording('Route the following user message to an intent.\n\nAvailable intents (area: intents):\n$labels\n\n'
            'Out-of-scope messages get "oos". Output a single JSON object such as {"intent": "weather"}, no other '
            'text.\n\nMessage:'),
    Wording('Task: pick the intent the message above belongs to, from:\n$labels\n("oos" if it fits none). '
            'Respond with JSON only, e.g. {"intent": "weather"}.', after=True),
)
BANKING = (
    Wording("Classify this customer message into one of the bank's support categories:\n$labels\n\n"
            "Answer with the category name only, exactly as written, and nothing else.\n\nCustomer message:"),
    Wording("Which support team should get the following message? File it under exactly one category from the "
            "list and reply with just that category name, spelled as listed.\n\nCategories:\n$labels"),
    Wording("Triage the customer's request below. Allowed categories:\n$labels\n"
            "Return only the matching category name, exactly as it appears above."),
    Wording("File the customer message above under one of these categories and reply with its name only, "
            "exactly as written:\n$labels", after=True),
)
SLOTS = (
    Wording('Extract the booking details from the customer\'s latest message: $fields. Copy each value exactly '
            'as written (e.g. "4", "four of us", "next Friday", "7pm"), use the conversation so far to read short '
            'answers such as "6", and leave out fields that are not mentioned. Reply with a JSON object only, e.g. '
            '{"people": "4", "time": "7pm"}, or {} if there is nothing to extract.'),
    Wording('Pull these reservation fields out of the message below: $fields.\n'
            '- Keep every value verbatim, the way the customer typed it.\n'
            '- A short reply like "6" answers the question asked just before.\n'
            '- Omit any field that is not mentioned.\n'
            'Output only JSON such as {"people": "4", "time": "7pm"} ({} when nothing applies).\n\nCustomer:'),
    Wording('Table booking: which of the fields $fields does this message give? Return them as a JSON object '
            'with the customer\'s exact words as values (a bare "6" answers the agent\'s last question), skipping '
            'fields it does not mention; return {} if there are none.'),
    Wording('From the customer message above, extract $fields as JSON, values copied exactly as written and '
            'missing fields left out (read short answers like "6" against the previous turn). Reply {} if there '
            'is nothing to extract, and nothing but the JSON.', after=True),
)
TOOLS = (
    Wording("Use the provided tools to answer the request below: call them with arguments taken from the "
            "request, several at once if it needs them. If no tool fits, say so briefly instead of calling one."),
    Wording("Answer with function calls where possible. Pick the available function(s) that serve this request "
            "and fill in the arguments from it, making several calls when needed; when none of the functions "
            "fits, briefly say so rather than calling one."),
    Wording("A request for the tool-using assistant follows. Call the right function or functions with arguments "
            "from the request; if none of the offered functions can serve it, reply briefly that none fits."),
    Wording("Serve the request above with the provided tools (several calls at once if it needs them), with "
            "arguments taken from the request; if none of the tools fits, say so briefly.", after=True),
)

# kind -> (how to read the variable part of its system prompt, its instruction's wordings)
KIND_WORDINGS: dict[str, tuple[Callable[[str], dict[str, str]], tuple[Wording, ...]]] = {
    "intent_routing": (bullet_list, ROUTING),
    "banking_triage": (bullet_list, BANKING),
    "slot_extraction": (field_list, SLOTS),
    "tool_calling": (no_parts, TOOLS),
}
WORDINGS_PER_KIND: dict[str, int] = {kind: len(wordings) for kind, (_, wordings) in KIND_WORDINGS.items()}


def request_fingerprint(record: CallRecord) -> str:
    """The original request (messages and tools) as one canonical string."""
    request = {
        "messages": [m.model_dump(exclude_none=True) for m in record.messages],
        "tools": [t.model_dump(exclude_none=True) for t in record.tools or []],
    }
    return json.dumps(request, sort_keys=True, ensure_ascii=False)


def wording_index(record: CallRecord, kind: str, seed: int = 0) -> int:
    """Which of the kind's wordings this call gets: a hash of the seed and the original request."""
    digest = hashlib.sha256(f"{seed}\x00{request_fingerprint(record)}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % len(KIND_WORDINGS[kind][1])


def instruction_for(record: CallRecord, kind: str, seed: int = 0) -> tuple[str, bool]:
    """(the instruction text, whether it goes after the user text) for one call, from its own system prompt."""
    if kind not in KIND_WORDINGS:
        raise ValueError(f"{record.id}: no instruction wordings for task kind {kind!r}")
    prompt = record.system_prompt()
    if not prompt.strip():
        raise ValueError(f"{record.id}: no system prompt to move into the user turn")
    read_parts, wordings = KIND_WORDINGS[kind]
    wording = wordings[wording_index(record, kind, seed)]
    return wording.render(read_parts(prompt)), wording.after


def shared_messages(messages: list[Message], instruction: str, after: bool) -> list[Message]:
    """The messages with every system prompt made the shared one and the instruction added to the last user turn."""
    last_user = max(i for i, m in enumerate(messages) if m.role == "user")
    out: list[Message] = []
    for i, message in enumerate(messages):
        if message.role in SYSTEM_ROLES:
            message = message.model_copy(update={"content": SHARED_SYSTEM_PROMPT})
        elif i == last_user:
            text = message.content or ""
            content = f"{text}\n\n{instruction}" if after else f"{instruction}\n\n{text}"
            message = message.model_copy(update={"content": content})
        out.append(message)
    return out


def to_shared_prompt(records: list[CallRecord], answer_key: dict[str, str], seed: int = 0) -> list[CallRecord]:
    """Every call in the single-system-prompt form; `answer_key` maps a call id to its task kind.

    Only the messages change: the system prompt becomes `SHARED_SYSTEM_PROMPT` and the last user turn gains the
    kind's instruction in one of its wordings. Other turns (an earlier assistant question) are kept as they are;
    calls of `KEPT_KINDS` are kept whole.
    """
    out: list[CallRecord] = []
    for record in records:
        if record.id not in answer_key:
            raise KeyError(f"{record.id}: not in the answer key")
        if answer_key[record.id] in KEPT_KINDS:
            out.append(record)
            continue
        if not any(m.role == "user" for m in record.messages):
            raise ValueError(f"{record.id}: no user turn to carry the instruction")
        instruction, after = instruction_for(record, answer_key[record.id], seed)
        messages = shared_messages(record.messages, instruction, after)
        out.append(record.model_copy(update={"messages": messages}))
    return out


__all__ = [
    "KEPT_KINDS", "SHARED_SYSTEM_PROMPT", "WORDINGS_PER_KIND", "instruction_for", "to_shared_prompt", "wording_index",
]
