"""Filters that drop calls a specialist should not learn from, and exact de-duplication."""

from __future__ import annotations

import hashlib
import json

from llm2slm.schema import CallRecord


def failure_reason(record: CallRecord) -> str | None:
    """Why a call is unusable as a training example, or None when it is fine."""
    if record.status == "error" or record.finish_reason == "error":
        return "failed"
    if not (record.response.content or "").strip() and not record.response.tool_calls:
        return "empty_response"
    return None


def content_key(record: CallRecord) -> str:
    """Hash of what the model saw and answered (request messages, tools, response), ignoring ids and times."""
    payload = {
        "messages": [m.model_dump(exclude_none=True) for m in record.messages],
        "tools": [t.model_dump(exclude_none=True) for t in record.tools or []],
        "response": json.loads(record.answer_text()) if record.response.tool_calls else record.answer_text(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
