"""The local call store: append-only segment files of validated call records.

Layout under the store folder:
    segments/seg-<seq>.jsonl   one CallRecord JSON per line, written whole or not at all
    segments/seg-<seq>.ids     the ids in that segment, one per line (for idempotent ingest)

A segment is written to a temporary name, fsynced, then renamed into place, so a reader never sees a partial
segment and a rejected file leaves nothing behind.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from llm2slm.schema import CallRecord

log = logging.getLogger("llm2slm.store")


class IngestError(ValueError):
    """A file was rejected; `problems` lists (line number, reason). Nothing was stored."""

    def __init__(self, path: Path, problems: list[tuple[int, str]], total_bad: int | None = None):
        self.path = path
        self.problems = problems
        self.total_bad = total_bad if total_bad is not None else len(problems)
        shown = "\n".join(f"  line {line}: {reason}" for line, reason in problems)
        more = f"\n  ... and {self.total_bad - len(problems)} more" if self.total_bad > len(problems) else ""
        super().__init__(f"{path}: rejected, nothing was stored ({self.total_bad} bad line(s)):\n{shown}{more}")


@dataclass
class IngestReport:
    path: Path
    read: int = 0
    stored: int = 0
    already_stored: int = 0
    segment: Path | None = None
    duplicate_ids_in_file: list[str] = field(default_factory=list)


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def _reason(exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in first["loc"]) or "record"
    extra = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {first['msg']}{extra}"


def parse_jsonl(path: Path, max_problems: int = 20) -> list[CallRecord]:
    """Read and validate every line; raise IngestError listing bad lines. Blank lines are skipped."""
    if not path.is_file():
        raise IngestError(path, [(0, "no such file")])
    records: list[CallRecord] = []
    problems: list[tuple[int, str]] = []
    bad = 0
    try:
        with _open_text(path) as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    records.append(CallRecord.model_validate_json(line))
                except ValidationError as exc:
                    bad += 1
                    if len(problems) < max_problems:
                        problems.append((number, _reason(exc)))
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise IngestError(path, [(0, f"cannot read file: {exc}")]) from exc
    if bad:
        raise IngestError(path, problems, bad)
    if not records:
        raise IngestError(path, [(0, "the file holds no call records")])
    return records


class CallStore:
    """Append-only store of call records under one folder."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.segments_dir = self.root / "segments"

    def segments(self) -> list[Path]:
        if not self.segments_dir.is_dir():
            return []
        return sorted(self.segments_dir.glob("seg-*.jsonl"))

    def ids(self) -> set[str]:
        found: set[str] = set()
        for segment in self.segments():
            found.update(segment.with_suffix(".ids").read_text(encoding="utf-8").split())
        return found

    def _next_segment(self) -> Path:
        existing = self.segments()
        seq = int(existing[-1].stem.split("-")[1]) + 1 if existing else 1
        return self.segments_dir / f"seg-{seq:06d}.jsonl"

    def append(self, records: Iterable[CallRecord]) -> tuple[Path | None, int, int]:
        """Store the records whose ids are new; returns (segment, stored, skipped as already stored)."""
        known = self.ids()
        fresh: list[CallRecord] = []
        seen: set[str] = set()
        skipped = 0
        for record in records:
            if record.id in known:
                skipped += 1
            elif record.id not in seen:
                seen.add(record.id)
                fresh.append(record)
        if not fresh:
            return None, 0, skipped
        self.segments_dir.mkdir(parents=True, exist_ok=True)
        target = self._next_segment()
        body = "".join(r.model_dump_json(exclude_none=True) + "\n" for r in fresh)
        ids = "".join(r.id + "\n" for r in fresh)
        # ids first: a crash between the two renames leaves an .ids file without a segment, which is harmless
        # (segments() lists .jsonl files only) and is overwritten by the next append.
        _atomic_write(target.with_suffix(".ids"), ids)
        _atomic_write(target, body)
        return target, len(fresh), skipped

    def ingest(self, path: Path) -> IngestReport:
        """Validate the whole file first, then store its new records as one segment."""
        records = parse_jsonl(Path(path))
        report = IngestReport(path=Path(path), read=len(records))
        counts: dict[str, int] = {}
        for r in records:
            counts[r.id] = counts.get(r.id, 0) + 1
        report.duplicate_ids_in_file = sorted(i for i, c in counts.items() if c > 1)
        report.segment, report.stored, report.already_stored = self.append(records)
        log.info("ingested %s: %d read, %d stored, %d already stored", path, report.read, report.stored,
                 report.already_stored)
        return report

    def iter_records(self, since: datetime | None = None, until: datetime | None = None) -> Iterator[CallRecord]:
        for segment in self.segments():
            with open(segment, encoding="utf-8") as handle:
                for line in handle:
                    record = CallRecord.model_validate_json(line)
                    if since and record.timestamp < since:
                        continue
                    if until and record.timestamp >= until:
                        continue
                    yield record

    def count(self) -> int:
        return len(self.ids())


def _atomic_write(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_jsonl(records: Iterable[CallRecord], path: Path) -> None:
    _atomic_write(Path(path), "".join(json.dumps(r.model_dump(mode="json", exclude_none=True)) + "\n"
                                       for r in records))
