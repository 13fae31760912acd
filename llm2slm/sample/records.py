"""Assembling `CallRecord`s and answer-key rows from scheduled calls."""

from __future__ import annotations

from dataclasses import dataclass

from llm2slm.sample.traffic import Call, timestamp
from llm2slm.sample.usage import usage
from llm2slm.common.schema import CallRecord, Message

ANSWER_KEY_HEADER: tuple[str, ...] = ("id", "task_kind", "label", "pii_types", "flags")


@dataclass(frozen=True)
class KeyRow:
    id: str
    task_kind: str
    label: str
    pii_types: str
    flags: str

    def as_row(self) -> tuple[str, str, str, str, str]:
        return (self.id, self.task_kind, self.label, self.pii_types, self.flags)


def call_id(index: int) -> str:
    return f"call-{index:06d}"


def to_record(call: Call, record_id: str) -> CallRecord:
    """The logged call. A failed call has an empty answer, finish_reason "error" and the error message."""
    example = call.example
    failed = call.error is not None
    response = Message(role="assistant", content="") if failed else example.response
    record = CallRecord(
        id=record_id,
        timestamp=timestamp(call),
        model=call.model,
        messages=example.messages,
        tools=example.tools,
        response=response,
        finish_reason="error" if failed else example.finish_reason,  # type: ignore[arg-type]
        usage=usage(example, call.error),
        latency_ms=call.latency_ms,
        source={"agent": call.agent, "user": call.user, "session": call.session},  # type: ignore[arg-type]
        trace_id=call.trace_id,
        span_id=call.span_id,
        parent_span_id=call.parent_span_id,
        status="error" if failed else "ok",
        error=call.error,
    )
    return CallRecord.model_validate(record.model_dump())


def key_row(call: Call, record_id: str) -> KeyRow:
    example = call.example
    return KeyRow(record_id, example.kind, example.label, ";".join(example.pii_types), call.flag)


def record_line(record: CallRecord) -> str:
    return record.model_dump_json(exclude_none=True) + "\n"
