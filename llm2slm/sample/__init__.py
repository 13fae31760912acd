"""The bundled sample trace: a real-looking agent LLM log built from public datasets, plus its answer key.

`bundled_trace_path()` and `bundled_answer_key_path()` point at the committed files in `data/sample/`;
`llm2slm.sample.build.build_sample` rebuilds them (see `scripts/build_sample.py`).
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "data" / "sample"


def bundled_trace_path() -> Path:
    """The committed trace: one `CallRecord` JSON object per line, gzip-compressed."""
    return SAMPLE_DIR / "trace.jsonl.gz"


def bundled_answer_key_path() -> Path:
    """The committed answer key (`id,task_kind,label,pii_types,flags`), gzip-compressed CSV."""
    return SAMPLE_DIR / "answer_key.csv.gz"


def read_answer_key(path: Path) -> list[dict[str, str]]:
    """All answer-key rows as dicts (plain or gzip-compressed CSV)."""
    opener = gzip.open if Path(path).suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as fh:  # type: ignore[operator]
        return list(csv.DictReader(fh))


def load_answer_key(path: Path | None = None) -> dict[str, str]:
    """Call id -> task kind (defaults to the bundled answer key)."""
    return {row["id"]: row["task_kind"] for row in read_answer_key(path or bundled_answer_key_path())}


__all__ = ["bundled_answer_key_path", "bundled_trace_path", "load_answer_key", "read_answer_key"]
