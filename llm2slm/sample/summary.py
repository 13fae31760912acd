"""Counts that describe a built trace (they go into the sample's README and the CLI's output)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from llm2slm.sample.common import ALL_KINDS, SGD_KINDS
from llm2slm.sample.pii import PII_TYPES
from llm2slm.sample.sgd_results import Coverage
from llm2slm.sample.tools import NO_TOOL_LABEL
from llm2slm.sample.traffic import Call, timestamp


@dataclass
class KindSummary:
    records: int = 0
    failed: int = 0
    duplicate: int = 0
    repeat: int = 0
    with_pii: int = 0
    labels: Counter[str] = field(default_factory=Counter)
    traces: set[str] = field(default_factory=set)  # trace ids (a multi-turn agent's dialogues)
    pii_traces: set[str] = field(default_factory=set)  # trace ids with a call holding planted PII


@dataclass
class Summary:
    seed: int
    records: int
    kinds: dict[str, KindSummary]
    pii_types: Counter[str]
    models: Counter[str]
    traces: int
    trace_sizes: Counter[int]
    users: int
    sessions: int
    multi_message: int
    first: str
    last: str
    trace_bytes: int = 0
    key_bytes: int = 0
    offer_coverage: Coverage | None = None  # where the multi-turn agents' offered values sit in the tool results

    @property
    def with_pii(self) -> int:
        return sum(k.with_pii for k in self.kinds.values())

    @property
    def failed(self) -> int:
        return sum(k.failed for k in self.kinds.values())

    @property
    def duplicate(self) -> int:
        return sum(k.duplicate for k in self.kinds.values())

    def sgd_calls(self) -> int:
        return sum(self.kinds[kind].records for kind in SGD_KINDS)

    def special_labels(self) -> dict[str, int]:
        return {
            "oos": self.kinds["intent_routing"].labels["oos"],
            "empty_slots": self.kinds["slot_extraction"].labels["{}"],
            "no_tool": self.kinds["tool_calling"].labels[NO_TOOL_LABEL],
        }


def summarise(calls: list[Call], seed: int) -> Summary:
    kinds = {kind: KindSummary() for kind in ALL_KINDS}
    pii: Counter[str] = Counter()
    for call in calls:
        summary = kinds[call.example.kind]
        summary.records += 1
        summary.traces.add(call.trace_id)
        if call.flag in ("failed", "duplicate", "repeat"):
            setattr(summary, call.flag, getattr(summary, call.flag) + 1)
        if call.example.pii_types:
            summary.with_pii += 1
            summary.pii_traces.add(call.trace_id)
            pii.update(call.example.pii_types)
        if call.flag not in ("failed", "duplicate"):
            summary.labels[call.example.label] += 1
    trace_sizes = Counter(Counter(c.trace_id for c in calls).values())
    stamps = sorted(timestamp(c).isoformat().replace("+00:00", "Z") for c in calls) or [""]
    return Summary(
        seed=seed,
        records=len(calls),
        kinds=kinds,
        pii_types=Counter({t: pii[t] for t in PII_TYPES}),
        models=Counter(c.model for c in calls),
        traces=sum(trace_sizes.values()),
        trace_sizes=trace_sizes,
        users=len({c.user for c in calls}),
        sessions=len({c.session for c in calls}),
        multi_message=sum(1 for c in calls if any(m.role == "assistant" for m in c.example.messages)),
        first=stamps[0],
        last=stamps[-1],
    )
