"""What leaves the store for the pipeline: a manifest of a time window, never the calls' text.

The export stage writes `ExportManifest` (the window, how many calls, their first and last timestamps, the store
segments read with their sizes, and a SHA-256 of the sorted record ids) as the DVC output that carries the
lineage to the captured calls. The curate stage reads the same calls straight from the encrypted store
(`read_manifest_window`: the same segments up to the same sizes, so calls appended since are not seen) and refuses
to go on when their ids no longer hash to the manifest's.

`export_records` is the curator's own export (`llm2slm export --out FILE`): the window as a Parquet snapshot,
each call scrubbed under the entity policy first (the CLI passes the curation scrubber): captured calls leave the
store only scrubbed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel

from llm2slm.capture.keys import Principal
from llm2slm.capture.store import CallStore
from llm2slm.common.files import write_json
from llm2slm.common.schema import CallRecord
from llm2slm.common.snapshot import write_snapshot

log = logging.getLogger("llm2slm.export")


class SnapshotInfo(BaseModel):
    path: Path
    n_calls: int
    first: datetime | None
    last: datetime | None


class ExportManifest(BaseModel):
    """The export stage's output: which calls the conversion reads, with no call text."""

    since: datetime | None  # the window as exported: since <= timestamp < until (None: open)
    until: datetime | None
    n_calls: int
    first: datetime
    last: datetime
    segments: dict[str, int]  # store segment -> bytes read
    ids_sha256: str  # SHA-256 of the sorted record ids, one per line


class EmptyWindowError(ValueError):
    """The window holds no call (nothing was captured in it): the message names the store and the window."""


class WindowChangedError(RuntimeError):
    """The store no longer gives the calls the manifest names."""


def ids_digest(records: Iterable[CallRecord]) -> str:
    """SHA-256 (hex) of the records' ids, sorted, one per line."""
    return hashlib.sha256("".join(f"{i}\n" for i in sorted(r.id for r in records)).encode("utf-8")).hexdigest()


def _window_text(since: datetime | None, until: datetime | None) -> str:
    return f"[{since.isoformat() if since else 'start'}, {until.isoformat() if until else 'end'})"


def _read_window(store: CallStore, principal: Principal, since: datetime | None,
                 until: datetime | None) -> tuple[dict[str, int], list[CallRecord]]:
    sizes = store.sizes()
    records = list(store.read(principal, since=since, until=until, upto=sizes))
    if not records:
        raise EmptyWindowError(f"the call store at {store.root} holds no calls in the window {_window_text(since, until)}: "
                         f"ingest a trace first")
    return sizes, records


def export_manifest(store: CallStore, principal: Principal, out: Path, since: datetime | None = None,
                    until: datetime | None = None) -> ExportManifest:
    """Write the manifest of the records with since <= timestamp < until to `out` (curator role, else AuthError
    403); EmptyWindowError (a ValueError) when the window holds no call, and then nothing is written."""
    sizes, records = _read_window(store, principal, since, until)
    stamps = [r.timestamp for r in records]
    manifest = ExportManifest(since=since, until=until, n_calls=len(records), first=min(stamps), last=max(stamps),
                              segments=sizes, ids_sha256=ids_digest(records))
    write_json(out, manifest.model_dump(mode="json"))
    log.info("exported the manifest of %d calls to %s as %s", len(records), out, principal.name)
    return manifest


def read_manifest(path: Path) -> ExportManifest:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"export manifest not found: {path} (run the export stage first)")
    return ExportManifest.model_validate(json.loads(path.read_text(encoding="utf-8")))


def _stale(manifest: ExportManifest, store: CallStore, path: Path, why: str) -> WindowChangedError:
    return WindowChangedError(
        f"the call store at {store.root} changed since export: {why}; the manifest {path} names "
        f"{manifest.n_calls} calls of the window {_window_text(manifest.since, manifest.until)}. "
        f"Re-run the export stage (`llm2slm stage export`, or `dvc repro`), then curate")


def read_manifest_window(store: CallStore, principal: Principal, manifest: ExportManifest,
                         path: Path) -> list[CallRecord]:
    """The calls the manifest names, read from the store (curator role), in snapshot order (timestamp, then id);
    WindowChangedError when a segment it names is missing or shorter, or the ids read no longer hash to the
    manifest's."""
    now = store.sizes()
    shrunk = sorted(name for name, size in manifest.segments.items() if now.get(name, 0) < size)
    if shrunk:
        raise _stale(manifest, store, path, f"segment(s) {', '.join(shrunk)} missing or shorter than exported")
    records = list(store.read(principal, since=manifest.since, until=manifest.until, upto=manifest.segments))
    digest = ids_digest(records)
    if digest != manifest.ids_sha256:
        raise _stale(manifest, store, path, f"the window now gives {len(records)} calls whose ids hash to "
                                            f"{digest[:12]}..., not {manifest.ids_sha256[:12]}...")
    return sorted(records, key=lambda r: (r.timestamp.isoformat(), r.id))  # a snapshot's order, not write order


def export_records(store: CallStore, principal: Principal, out: Path, scrub: Callable[[CallRecord], CallRecord],
                   since: datetime | None = None, until: datetime | None = None) -> SnapshotInfo:
    """Write the records with since <= timestamp < until, each passed through `scrub`, to `out` as a 0600 Parquet
    snapshot (curator role, else AuthError 403); ValueError when the window holds no call, and then nothing is
    written."""
    _, records = _read_window(store, principal, since, until)
    write_snapshot([scrub(r) for r in records], out)
    stamps = [r.timestamp for r in records]
    log.info("exported %d calls to %s as %s", len(records), out, principal.name)
    return SnapshotInfo(path=out, n_calls=len(records), first=min(stamps), last=max(stamps))
