"""Snapshots: the call records of a time window as one Parquet file (columns id, timestamp, record).

`record` holds the CallRecord as JSON, so a snapshot is lossless; `id` and `timestamp` are columns for filtering.
Rows are sorted by (timestamp, id) and written without volatile metadata, so the same records give the same
bytes and the same DVC hash.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from llm2slm.common.schema import CallRecord

SCHEMA = pa.schema([("id", pa.string()), ("timestamp", pa.string()), ("record", pa.string())])


def write_snapshot(records: Iterable[CallRecord], path: Path) -> int:
    """Write records atomically; returns how many were written."""
    rows = sorted(
        ((r.timestamp.isoformat(), r.id, r.model_dump_json(exclude_none=True)) for r in records),
    )
    table = pa.table(
        {"id": [r[1] for r in rows], "timestamp": [r[0] for r in rows], "record": [r[2] for r in rows]},
        schema=SCHEMA,
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(rows)


def read_snapshot(path: Path) -> list[CallRecord]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"snapshot not found: {path}")
    table = pq.read_table(path, columns=["record"])
    return [CallRecord.model_validate_json(text) for text in table.column("record").to_pylist()]
