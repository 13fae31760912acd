"""Which task a live request belongs to: the structure gate first, the saved assigner's embedding test second.

A request that exactly one task's exclusive structural gate admits (the system-prompt template, the tools offered,
the last role and the instruction, as discovery defines them) is placed by structure alone, with confidence 1 and
no embedding: for agents whose tasks differ in structure (every task of the bundled trace) this is all the
placement costs. Otherwise the request is embedded and placed by the assigner's content test, but only when a task
that structure cannot decide has a live route (`needs_content`): with no such route the answer is `none` and the
call goes to the LLM without paying for an embedding.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from llm2slm.common.schema import CallRecord, Message, Tool, Usage
from llm2slm.discovery.assigner import Assigner, load_assigner
from llm2slm.discovery.catalogue import OUTLIER


@dataclass(frozen=True)
class Placement:
    task_id: str  # "none" when no task accepts the call
    confidence: float
    by: str  # "structure" | "content" | "none"


def request_record(messages: list[Message], tools: list[Tool] | None, model: str = "request") -> CallRecord:
    """A call record of a request with no answer yet: what the assigner's structural and content tests read."""
    return CallRecord.model_construct(
        id="live", timestamp=datetime.now(timezone.utc), model=model, messages=messages, tools=tools,
        response=Message(role="assistant", content=None), finish_reason="stop",
        usage=Usage(prompt_tokens=0, completion_tokens=0, total_tokens=0), latency_ms=0.0, source=None)


class Placer:
    def __init__(self, assigner: Assigner, source: Path | None = None):
        self.assigner, self.source = assigner, source
        self.structural = {t for t, e in zip(assigner.task_ids, assigner.exclusive, strict=True) if e}
        self._stamp = _stamp(source)

    @classmethod
    def load(cls, stem: Path) -> "Placer":
        return cls(load_assigner(stem), Path(stem))

    def reloaded(self) -> "Placer":
        """This placer, or a new one when the assigner's files changed since it was loaded (a new conversion)."""
        if self.source is None or _stamp(self.source) == self._stamp:
            return self
        return Placer.load(self.source)

    def needs_content(self, live_tasks: Collection[str]) -> bool:
        """Whether a live task can only be reached by the content test."""
        return any(t not in self.structural for t in live_tasks if t in self.assigner.task_ids)

    def place(self, record: CallRecord, live_tasks: Collection[str]) -> Placement:
        task = self.assigner.by_structure(record)
        if task is not None:
            return Placement(task, 1.0, "structure")
        if not self.needs_content(live_tasks):
            return Placement(OUTLIER, 1.0, "none")
        (task, confidence), = self.assigner.assign([record])
        return Placement(task, float(confidence), "content" if task != OUTLIER else "none")


def _stamp(stem: Path | None) -> tuple[float, ...] | None:
    if stem is None:
        return None
    stem = Path(stem).with_suffix("")
    try:
        return tuple(stem.with_suffix(s).stat().st_mtime for s in (".json", ".npz"))
    except OSError:
        return None
