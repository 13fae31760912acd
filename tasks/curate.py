"""Stage S2: curate a raw snapshot — scrub personal data, drop failed calls, remove exact duplicates.

Writes the curated snapshot and an audit (JSON): how many values of each type were replaced in which field, and
how many calls each filter removed. The audit holds counts only, never the values.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

from prefect import task
from pydantic import BaseModel

from llm2slm.config import CurateConfig
from llm2slm.curation.filters import content_key, failure_reason
from llm2slm.curation.scrub import CallScrubber
from llm2slm.schema import CallRecord
from llm2slm.snapshot import read_snapshot, write_snapshot

log = logging.getLogger("llm2slm.curate")


class CurateAudit(BaseModel):
    n_in: int
    n_out: int
    removed: dict[str, int]
    replaced: dict[str, int]
    replaced_by_field: dict[str, int]
    calls_with_pii: int


def scrub_record(record: CallRecord, scrubber: CallScrubber) -> CallRecord:
    """A copy of the record with every text field scrubbed: messages, tool arguments, tool results, response."""
    data = record.model_copy(deep=True)
    for message in [*data.messages, data.response]:
        where = "response" if message is data.response else f"messages.{message.role}"
        message.content = scrubber.scrub(message.content, where)
        for call in message.tool_calls or []:
            call.function.arguments = scrubber.scrub(call.function.arguments, f"{where}.tool_arguments") or ""
    return data


def curate_records(records: list[CallRecord], cfg: CurateConfig) -> tuple[list[CallRecord], CurateAudit]:
    removed: Counter = Counter()
    replaced: Counter = Counter()
    by_field: Counter = Counter()
    kept: list[CallRecord] = []
    seen: set[str] = set()
    with_pii = 0
    for record in records:
        reason = failure_reason(record) if cfg.drop_failed else None
        if reason:
            removed[reason] += 1
            continue
        scrubber = CallScrubber(kinds=tuple(cfg.scrub))
        clean = scrub_record(record, scrubber)
        if scrubber.counts:
            with_pii += 1
        for (kind, where), n in scrubber.counts.items():
            replaced[kind] += n
            by_field[f"{kind}:{where}"] += n
        if cfg.dedup == "exact":
            key = content_key(clean)
            if key in seen:
                removed["duplicate"] += 1
                continue
            seen.add(key)
        kept.append(clean)
    audit = CurateAudit(n_in=len(records), n_out=len(kept), removed=dict(removed), replaced=dict(replaced),
                        replaced_by_field=dict(sorted(by_field.items())), calls_with_pii=with_pii)
    return kept, audit


@task(name="curate")
def curate(raw: Path, out: Path, audit_out: Path, cfg: CurateConfig) -> CurateAudit:
    """Read the raw snapshot, write the curated snapshot and its audit."""
    records = read_snapshot(raw)
    if not records:
        raise ValueError(f"the raw snapshot {raw} is empty: nothing to curate")
    kept, audit = curate_records(records, cfg)
    if not kept:
        raise ValueError(f"curation removed every call of {raw} ({audit.removed}): nothing left to learn from")
    write_snapshot(kept, out)
    audit_out.parent.mkdir(parents=True, exist_ok=True)
    audit_out.write_text(json.dumps(audit.model_dump(), indent=2, sort_keys=True) + "\n")
    log.info("curated %d -> %d calls; removed %s; replaced %s", audit.n_in, audit.n_out, audit.removed,
             audit.replaced)
    return audit
