"""The encrypted, append-only call store.

Layout under the store folder (nothing in it is plaintext call data):
    envelope.json           wrapped data keys, the wrapped pseudonym key, the master-key fingerprint (envelope.py)
    segments/seg-NNNNNN.seg encrypted frames, one per record (segments.py)
    segments/seg-NNNNNN.idx the id tags of a sealed segment (written when its writer rolls over or closes)
    .lock                   flock taken by appenders (exclusive) and by readers' snapshots (shared)

Each CallStore instance that appends starts its own segment on its first append (so it never writes after another
writer's, possibly torn, tail) and rolls to a new one past `segment_max_bytes`. An append takes the store lock,
catches the id index up with what other writers added, writes the batch's new records, fsyncs and releases: it is
durable on return, and two processes can append at once without interleaving or duplicating ids. Before storage the
source ids (agent, user, session) are replaced by keyed pseudonyms. Reading needs a curator principal.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from llm2slm.capture.crypto import MasterKey, Pseudonymizer, new_data_key
from llm2slm.capture.envelope import Envelope, read_envelope, write_envelope
from llm2slm.common.files import PRIVATE_DIR, locked
from llm2slm.capture.imports import IngestReport, load_records
from llm2slm.capture.keys import Principal, Role, check_role
from llm2slm.capture.segments import SUFFIX, SegmentWriter, iter_frames, read_index
from llm2slm.common.schema import CallRecord, Source

log = logging.getLogger("llm2slm.capture")
DEFAULT_SEGMENT_MAX_BYTES = 64 * 1024 * 1024  # a writer starts a new segment past this size, bytes
SOURCE_CACHE_SIZE = 100_000  # pseudonymised sources kept in memory, entries


@dataclass
class AppendResult:
    stored: int = 0  # records written (durable)
    skipped: int = 0  # records whose id was already stored (or repeated in the batch)
    segment: str | None = None  # the segment written to, when anything was


@dataclass
class _Index:
    """Keyed tags of every stored record id, and how far each segment has been read into it."""

    tags: set[bytes] = field(default_factory=set)
    scanned: dict[str, tuple[int, int]] = field(default_factory=dict)  # segment -> (bytes, frames) indexed


class CallStore:
    """Encrypted append-only store of call records under one folder. Thread-safe; multi-process safe."""

    def __init__(self, root: Path, master_key: MasterKey, segment_max_bytes: int = DEFAULT_SEGMENT_MAX_BYTES):
        self.root = Path(root)
        self.segments_dir = self.root / "segments"
        self.envelope_path = self.root / "envelope.json"
        self.segment_max_bytes = segment_max_bytes
        self._master = master_key
        self._mutex = threading.RLock()
        self._writer: SegmentWriter | None = None
        self._pseudonymizer: Pseudonymizer | None = None
        self._data_keys: dict[str, bytes] = {}
        self._sources: dict[tuple[str, str | None, str | None], bytes] = {}
        self._index = _Index()
        envelope = read_envelope(self.envelope_path)
        if envelope is not None:
            envelope.check(self._master, self.envelope_path)

    # ---- locking and keys ----
    def _lock(self, exclusive: bool):
        self.root.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
        return locked(self.root / ".lock", exclusive)

    def _envelope(self, create: bool) -> Envelope | None:
        """The envelope as on disk (checked against the master key); created when absent and `create` (lock held)."""
        envelope = read_envelope(self.envelope_path)
        if envelope is None and create:
            envelope = Envelope.new(self._master)
            write_envelope(self.envelope_path, envelope)
            log.info("created the call store at %s (master key %s)", self.root, self._master.fingerprint)
        if envelope is not None:
            envelope.check(self._master, self.envelope_path)
        return envelope

    def _pseudonyms(self) -> Pseudonymizer:
        if self._pseudonymizer is None:
            with self._lock(exclusive=True):
                envelope = self._envelope(create=True)
                assert envelope is not None
                self._pseudonymizer = Pseudonymizer(envelope.pseudonym_secret(self._master))
        return self._pseudonymizer

    def _data_key(self, segment: str, envelope: Envelope | None = None) -> bytes:
        if segment not in self._data_keys:
            envelope = envelope or self._envelope(create=False)
            if envelope is None:
                raise FileNotFoundError(f"{self.envelope_path}: the store has segments but no envelope")
            self._data_keys[segment] = envelope.data_key(self._master, segment)
        return self._data_keys[segment]

    def segment_sizes(self) -> dict[str, int]:
        """Segment name -> size in bytes, in write order; call with the store lock held for a consistent view."""
        if not self.segments_dir.is_dir():
            return {}
        paths = sorted(self.segments_dir.glob(f"seg-*{SUFFIX}"), key=lambda p: int(p.stem.split("-")[1]))
        return {p.stem: p.stat().st_size for p in paths}

    # ---- writing ----
    def _catch_up(self, sizes: dict[str, int]) -> None:
        """Add to the index the frames other writers appended since the last look (store lock held)."""
        for name, size in sizes.items():
            done_bytes, done_frames = self._index.scanned.get(name, (0, 0))
            if size <= done_bytes:
                continue
            path = self.segments_dir / f"{name}{SUFFIX}"
            sealed = read_index(path, size) if done_bytes == 0 else None
            if sealed is not None:
                self._index.tags.update(sealed)
                self._index.scanned[name] = (size, len(sealed))
                continue
            for frame in iter_frames(path, self._data_key(name), size, done_bytes, done_frames):
                self._index.tags.add(frame.id_tag)
                done_bytes, done_frames = frame.end, frame.number + 1
            self._index.scanned[name] = (max(done_bytes, size), done_frames)

    def _segment_writer(self) -> SegmentWriter:
        """This instance's open segment, or a new one (store lock held)."""
        writer = self._writer
        if writer is not None and not writer.broken and writer.size < self.segment_max_bytes:
            return writer
        if writer is not None:
            writer.seal()
        envelope = self._envelope(create=True)
        assert envelope is not None
        # past every segment file and every key in the envelope: a writer whose view of the folder lags (a network
        # filesystem's attribute cache) still never replaces the key of a segment another writer started
        taken = set(self.segment_sizes()) | set(envelope.segments)
        seq = max((int(name.split("-")[1]) for name in taken), default=0) + 1
        name = f"seg-{seq:06d}"
        data_key = new_data_key()
        envelope.segments[name] = self._master.wrap(data_key, name)
        write_envelope(self.envelope_path, envelope)  # the key is durable before any data needs it
        self.segments_dir.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
        self._writer = SegmentWriter(self.segments_dir / f"{name}{SUFFIX}", data_key)
        self._data_keys[name] = data_key
        self._index.scanned[name] = (self._writer.size, 0)
        log.info("started segment %s in %s", name, self.segments_dir)
        return self._writer

    def _source_json(self, source: Source, pseudonyms: Pseudonymizer) -> bytes:
        """The pseudonymised source as JSON, cached per (agent, user, session)."""
        ids = (source.agent, source.user, source.session)
        cached = self._sources.get(ids)
        if cached is None:
            stored = {name: pseudonyms.pseudonym(name, value)
                      for name, value in zip(("agent", "user", "session"), ids) if value}
            cached = json.dumps(stored, separators=(",", ":")).encode("ascii")
            if len(self._sources) >= SOURCE_CACHE_SIZE:
                self._sources.clear()
            self._sources[ids] = cached
        return cached

    def _encode(self, record: CallRecord, pseudonyms: Pseudonymizer) -> bytes:
        """The record's JSON with its source ids replaced by pseudonyms (the raw ids are never serialised)."""
        body = record.__pydantic_serializer__.to_json(record, exclude={"source"}, exclude_none=True)
        return body[:-1] + b',"source":' + self._source_json(record.source, pseudonyms) + b"}"

    def append(self, records: Sequence[CallRecord]) -> AppendResult:
        """Store the records whose ids are new, pseudonymised and encrypted; durable (fsynced) on return."""
        with self._mutex:
            pseudonyms = self._pseudonyms()
            batch: dict[bytes, bytes] = {}
            for record in records:
                tag = pseudonyms.id_tag(record.id)
                if tag not in batch:
                    batch[tag] = self._encode(record, pseudonyms)
            if not self._index.scanned:  # first append: index what is there without blocking other writers
                self._catch_up(self._snapshot()[1])
            with self._lock(exclusive=True):
                self._catch_up(self.segment_sizes())
                fresh = [(tag, body) for tag, body in batch.items() if tag not in self._index.tags]
                if not fresh:
                    return AppendResult(stored=0, skipped=len(records))
                writer = self._segment_writer()
                writer.append(fresh)
                self._index.tags.update(tag for tag, _ in fresh)
                self._index.scanned[writer.name] = (writer.size, writer.frames)
            return AppendResult(stored=len(fresh), skipped=len(records) - len(fresh), segment=writer.name)

    def ingest(self, path: Path, fmt: str = "auto") -> IngestReport:
        """Validate the whole file first (JSONL call records or OTLP JSON spans), then store its new records."""
        records, report = load_records(Path(path), fmt)
        result = self.append(records)
        report.stored = result.stored
        report.already_stored = len({r.id for r in records}) - result.stored  # distinct ids stored before
        report.segment = self.segments_dir / f"{result.segment}{SUFFIX}" if result.segment else None
        log.info("ingested %s: %d read, %d stored, %d already stored", path, report.read, report.stored,
                 report.already_stored)
        return report

    # ---- reading ----
    def _snapshot(self) -> tuple[Envelope | None, dict[str, int]]:
        with self._lock(exclusive=False):
            return self._envelope(create=False), self.segment_sizes()

    def sizes(self) -> dict[str, int]:
        """Segment name -> size in bytes, read under the store lock: a consistent view to pass to `read(upto=)`."""
        return self._snapshot()[1]

    def read(self, principal: Principal, since: datetime | None = None, until: datetime | None = None,
             upto: dict[str, int] | None = None) -> Iterator[CallRecord]:
        """Records with since <= timestamp < until, in write order. Needs the curator role (else AuthError 403).
        `upto` (segment -> bytes, as `sizes()` gave them): only those segments' first bytes, so what was appended
        since is not seen (segments are append-only: the same `upto` gives the same records)."""
        check_role(principal, Role.CURATOR)
        return self._records(since, until, upto)

    def _records(self, since: datetime | None, until: datetime | None,
                 upto: dict[str, int] | None = None) -> Iterator[CallRecord]:
        envelope, sizes = self._snapshot()
        if upto is not None:
            sizes = {name: min(size, sizes[name]) for name, size in upto.items() if name in sizes}
        for name, size in sizes.items():
            key = self._data_key(name, envelope)
            for frame in iter_frames(self.segments_dir / f"{name}{SUFFIX}", key, size):
                record = CallRecord.model_validate_json(frame.plaintext)
                if since and record.timestamp < since:
                    continue
                if until and record.timestamp >= until:
                    continue
                yield record

    def count(self) -> int:
        """How many records the store holds (decrypts every frame it has not seen yet, returns no content)."""
        with self._mutex, self._lock(exclusive=False):
            if self.segment_sizes():
                self._envelope(create=False)
            self._catch_up(self.segment_sizes())
            return len(self._index.tags)

    # ---- keys ----
    @property
    def master_fingerprint(self) -> str:
        return self._master.fingerprint

    def rotate_master(self, new_master: MasterKey) -> int:
        """Re-wrap every key of the store under `new_master` in one atomic replace; data files are untouched.
        Returns how many data keys were re-wrapped."""
        with self._mutex, self._lock(exclusive=True):
            envelope = self._envelope(create=True)
            assert envelope is not None
            write_envelope(self.envelope_path, envelope.rewrapped(self._master, new_master))
            self._master = new_master
            log.info("re-wrapped %d data keys and the pseudonym key under master key %s",
                     len(envelope.segments), new_master.fingerprint)
            return len(envelope.segments)

    def close(self) -> None:
        """Seal this instance's segment (its id index is written, so later opens need not decrypt it)."""
        with self._mutex:
            if self._writer is not None:
                if self._writer.broken:
                    self._writer.close()
                else:
                    self._writer.seal()
                self._writer = None

    def __enter__(self) -> "CallStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
