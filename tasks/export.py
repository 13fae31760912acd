"""Stage: export the call store's records of a time window as the raw snapshot (Parquet)."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from prefect import task
from pydantic import BaseModel

from llm2slm.snapshot import write_snapshot
from llm2slm.store import CallStore

log = logging.getLogger("llm2slm.export")


class SnapshotInfo(BaseModel):
    path: Path
    n_calls: int
    first: datetime | None
    last: datetime | None


@task(name="export")
def export_snapshot(store_dir: Path, out: Path, since: datetime | None = None,
                    until: datetime | None = None) -> SnapshotInfo:
    """Write the store's records with since <= timestamp < until to `out`."""
    records = list(CallStore(store_dir).iter_records(since=since, until=until))
    if not records:
        raise ValueError(f"the call store at {store_dir} holds no calls in the window "
                         f"[{since or 'start'}, {until or 'end'}): ingest a trace first")
    write_snapshot(records, out)
    stamps = [r.timestamp for r in records]
    log.info("exported %d calls to %s", len(records), out)
    return SnapshotInfo(path=out, n_calls=len(records), first=min(stamps), last=max(stamps))
