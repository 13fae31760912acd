"""A curator's export: the store's records of a time window written as the pipeline's Parquet snapshot."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel

from llm2slm.capture.keys import Principal
from llm2slm.capture.store import CallStore
from llm2slm.common.snapshot import write_snapshot

log = logging.getLogger("llm2slm.export")


class SnapshotInfo(BaseModel):
    path: Path
    n_calls: int
    first: datetime | None
    last: datetime | None


def export_records(store: CallStore, principal: Principal, out: Path, since: datetime | None = None,
                   until: datetime | None = None) -> SnapshotInfo:
    """Write the records with since <= timestamp < until to `out` (curator role, else AuthError 403); ValueError
    when the window holds no call, and then nothing is written."""
    records = list(store.read(principal, since=since, until=until))
    if not records:
        raise ValueError(f"the call store at {store.root} holds no calls in the window "
                         f"[{since or 'start'}, {until or 'end'}): ingest a trace first")
    write_snapshot(records, out)
    stamps = [r.timestamp for r in records]
    log.info("exported %d calls to %s as %s", len(records), out, principal.name)
    return SnapshotInfo(path=out, n_calls=len(records), first=min(stamps), last=max(stamps))
