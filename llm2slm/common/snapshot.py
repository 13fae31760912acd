"""Snapshots: the call records of a time window as one Parquet file (columns id, timestamp, record).

`record` holds the CallRecord as JSON, so a snapshot is lossless; `id` and `timestamp` are columns for filtering.
Rows are sorted by (timestamp, id) and written without volatile metadata, so the same records give the same
bytes and the same DVC hash.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from llm2slm.common.files import PRIVATE_FILE, atomic_path
from llm2slm.common.schema import CallRecord

SCHEMA = pa.schema([("id", pa.string()), ("timestamp", pa.string()), ("record", pa.string())])


def write_snapshot(records: Iterable[CallRecord], path: Path) -> int:
    """Write records atomically, readable by the owner only (they hold captured text); returns how many."""
    rows = sorted(
        ((r.timestamp.isoformat(), r.id, r.model_dump_json(exclude_none=True)) for r in records),
    )
    table = pa.table(
        {"id": [r[1] for r in rows], "timestamp": [r[0] for r in rows], "record": [r[2] for r in rows]},
        schema=SCHEMA,
    )
    with atomic_path(path, PRIVATE_FILE) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return len(rows)


def read_snapshot(path: Path) -> list[CallRecord]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"snapshot not found: {path}")
    table = pq.read_table(path, columns=["record"])
    return [CallRecord.model_validate_json(text) for text in table.column("record").to_pylist()]
