"""Files of calls to import: JSONL call records, or OpenTelemetry GenAI spans as OTLP JSON (see otel.py).

Every record of a file is validated before anything is stored; a file with any bad line or span is rejected whole
with an IngestError listing where (line number, or span path) and why.
"""

from __future__ import annotations

import gzip
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from llm2slm.common.errors import describe_validation_error
from llm2slm.common.schema import CallRecord

FORMATS = ("auto", "jsonl", "otel")


class IngestError(ValueError):
    """A file was rejected; `problems` lists (line number or span path, reason). Nothing was stored."""

    def __init__(self, path: Path, problems: list[tuple[int | str, str]], total_bad: int | None = None):
        self.path = path
        self.problems = problems
        self.total_bad = total_bad if total_bad is not None else len(problems)
        shown = "\n".join(f"  {_where(where)}: {reason}" for where, reason in problems)
        more = f"\n  ... and {self.total_bad - len(problems)} more" if self.total_bad > len(problems) else ""
        super().__init__(f"{path}: rejected, nothing was stored ({self.total_bad} problem(s)):\n{shown}{more}")


def _where(where: int | str) -> str:
    return f"line {where}" if isinstance(where, int) else where


@dataclass
class IngestReport:
    path: Path
    read: int = 0
    stored: int = 0
    already_stored: int = 0
    segment: Path | None = None
    format: str = "jsonl"
    skipped_spans: int = 0  # OTel spans that are not LLM calls (agent, tool, chain spans)
    duplicate_ids_in_file: list[str] = field(default_factory=list)


def open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def validation_reason(exc: ValidationError) -> str:
    """The first problem of a call record that failed validation, and how many more there are."""
    return describe_validation_error(exc, first_only=True, whole="record")


def parse_jsonl(path: Path, max_problems: int = 20) -> list[CallRecord]:
    """Read and validate every line; raise IngestError listing bad lines. Blank lines are skipped."""
    if not path.is_file():
        raise IngestError(path, [(0, "no such file")])
    records: list[CallRecord] = []
    problems: list[tuple[int | str, str]] = []
    bad = 0
    try:
        with open_text(path) as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    records.append(CallRecord.model_validate_json(line))
                except ValidationError as exc:
                    bad += 1
                    if len(problems) < max_problems:
                        problems.append((number, validation_reason(exc)))
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise IngestError(path, [(0, f"cannot read file: {exc}")]) from exc
    if bad:
        raise IngestError(path, problems, bad)
    if not records:
        raise IngestError(path, [(0, "the file holds no call records")])
    return records


def detect_format(path: Path) -> str:
    """`otel` when the file's first JSON value holds `resourceSpans` (OTLP JSON), else `jsonl`."""
    try:
        with open_text(path) as handle:
            head = handle.read(1 << 20)
    except (OSError, UnicodeDecodeError, EOFError):
        return "jsonl"
    first_line = next((line for line in head.splitlines() if line.strip()), "")
    for text in (first_line, head):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict) and "resourceSpans" in value:
            return "otel"
    return "otel" if head.lstrip().startswith("{") and '"resourceSpans"' in head[:4096] else "jsonl"


def load_records(path: Path, fmt: str = "auto") -> tuple[list[CallRecord], IngestReport]:
    """Validated records of a file and the report to fill in; IngestError when anything is wrong."""
    if fmt not in FORMATS:
        raise IngestError(path, [(0, f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")])
    if not path.is_file():
        raise IngestError(path, [(0, "no such file")])
    fmt = detect_format(path) if fmt == "auto" else fmt
    report = IngestReport(path=path, format=fmt)
    if fmt == "otel":
        from llm2slm.capture.otel import parse_otlp_file

        records, report.skipped_spans = parse_otlp_file(path)
    else:
        records = parse_jsonl(path)
    report.read = len(records)
    counts: dict[str, int] = {}
    for record in records:
        counts[record.id] = counts.get(record.id, 0) + 1
    report.duplicate_ids_in_file = sorted(i for i, c in counts.items() if c > 1)
    return records, report


