"""Small, hand-written call records for unit tests (the bundled trace is used by the end-to-end tests)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from llm2slm.common.schema import CallRecord

BASE = datetime(2026, 10, 1, tzinfo=timezone.utc)


def make_record(i: int, user: str, answer: str = "ok", system: str = "You route requests.",
                tools: list[dict] | None = None, tool_calls: list[dict] | None = None, **extra) -> CallRecord:
    response: dict = {"role": "assistant", "content": answer}
    if tool_calls:
        response = {"role": "assistant", "content": None, "tool_calls": [
            {"id": f"c{j}", "type": "function",
             "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}}
            for j, c in enumerate(tool_calls)]}
    data = {
        "id": f"call-{i:06d}",
        "timestamp": (BASE + timedelta(minutes=i)).isoformat(),
        "model": "gpt-4o-2024-08-06",
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        "tools": tools,
        "response": response,
        "finish_reason": "tool_calls" if tool_calls else "stop",
        "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25},
        "latency_ms": 321.0,
        "source": {"agent": "test-agent", "user": "u-1", "session": "s-1"},
    }
    data.update(extra)
    return CallRecord.model_validate(data)


def record_line(record: CallRecord) -> str:
    return record.model_dump_json(exclude_none=True) + "\n"


class PlaceholderSpotter:
    """A specialist that learned on scrubbed calls: `contact` when it sees an e-mail placeholder, else `other`."""

    def predict_rows(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        return ["contact" if "<EMAIL_" in row["messages"][-1]["content"] else "other" for row in rows]

    def predict_with_confidence(self, rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, float]]:
        """Sure when it sees a placeholder, unsure otherwise."""
        return [(answer, 0.9 if answer == "contact" else 0.6) for answer in self.predict_rows(rows)]
