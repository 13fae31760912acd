"""A retrain scenario cut from the bundled trace: the traffic a conversion sees first, then what arrives later.

First (calls before the trace's median timestamp): `bank-support` (BANKING77 triage) and `table-booking`
(Restaurant-8k slots) calls whose answers name no guest (no first_name/last_name slot). Later (from the median
on), three kinds of traffic the retrain flow must tell apart:

- `unchanged`: more `bank-support` calls, from the same distribution;
- `new_task`: `assistant-router` calls (CLINC150 intents), an agent the first part never saw;
- `shifted`: `table-booking` calls whose guests give their name, inputs the first part's specialist never saw.

Calls are drawn with a seed; every call keeps its id and timestamp, so the later part is after the first in time.
"""

from __future__ import annotations

import gzip
import json
import random
from dataclasses import dataclass, field

from llm2slm.common.schema import CallRecord
from llm2slm.sample import bundled_trace_path, load_answer_key

NAMES = {"first_name", "last_name"}


@dataclass
class Scenario:
    first: list[CallRecord]
    later: dict[str, list[CallRecord]] = field(default_factory=dict)  # unchanged | new_task | shifted
    kinds: dict[str, str] = field(default_factory=dict)  # call id -> the answer key's task kind

    def later_calls(self, *parts: str) -> list[CallRecord]:
        return sorted((r for p in (parts or tuple(self.later)) for r in self.later[p]),
                      key=lambda r: (r.timestamp, r.id))


def _names_a_guest(record: CallRecord) -> bool:
    try:
        return bool(NAMES & set(json.loads(record.response.content or "{}")))
    except ValueError:
        return False


def _draw(records: list[CallRecord], n: int, rng: random.Random) -> list[CallRecord]:
    return sorted(rng.sample(records, min(n, len(records))), key=lambda r: (r.timestamp, r.id))


def retrain_scenario(first_per_task: int = 300, unchanged: int = 60, new_task: int = 150, shifted: int = 120,
                     seed: int = 7) -> Scenario:
    """The scenario's calls (sizes per part as given) from the bundled trace."""
    kinds = load_answer_key()
    with gzip.open(bundled_trace_path(), "rt", encoding="utf-8") as fh:
        records = [CallRecord.model_validate_json(line) for line in fh if line.strip()]
    stamps = sorted(r.timestamp for r in records)
    middle = stamps[len(stamps) // 2]
    early = [r for r in records if r.timestamp < middle]
    late = [r for r in records if r.timestamp >= middle]
    of = lambda rows, kind: [r for r in rows if kinds[r.id] == kind]  # noqa: E731
    rng = random.Random(seed)
    first = (_draw(of(early, "banking_triage"), first_per_task, rng)
             + _draw([r for r in of(early, "slot_extraction") if not _names_a_guest(r)], first_per_task, rng))
    later = {"unchanged": _draw(of(late, "banking_triage"), unchanged, rng),
             "new_task": _draw(of(late, "intent_routing"), new_task, rng),
             "shifted": _draw([r for r in of(late, "slot_extraction") if _names_a_guest(r)], shifted, rng)}
    chosen = first + [r for rows in later.values() for r in rows]
    return Scenario(first=sorted(first, key=lambda r: (r.timestamp, r.id)), later=later,
                    kinds={r.id: kinds[r.id] for r in chosen})
