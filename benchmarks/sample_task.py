"""Build one sub-task of the bundled sample trace as a task folder ({train,val,test}.jsonl), the form the
split stage writes, without running discovery: the answer key names each call's task kind. Also how the
fine-tuning benchmarks run: offline and quiet, in a scratch folder.

Failed calls are dropped and exact duplicates kept once (as curation does); the split is seeded.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import random
import tempfile
from collections.abc import Callable
from pathlib import Path

from llm2slm.common.files import write_jsonl
from llm2slm.common.schema import CallRecord

ROOT = Path(__file__).resolve().parents[1]
TRACE = ROOT / "data" / "sample" / "trace.jsonl.gz"
ANSWER_KEY = ROOT / "data" / "sample" / "answer_key.csv.gz"
KINDS = ("intent_routing", "banking_triage", "slot_extraction", "tool_calling")  # the single-turn agents' kinds


def sample_rows(kind: str) -> list[dict]:
    """Every successful call of this task kind (any kind of the answer key) as a task row {id, messages, tools,
    answer}, duplicates once."""
    with gzip.open(ANSWER_KEY, "rt", encoding="utf-8") as handle:
        key = list(csv.DictReader(handle))
    kinds = sorted({row["task_kind"] for row in key})
    if kind not in kinds:
        raise ValueError(f"task kind {kind!r}: use one of {kinds}")
    ids = {row["id"] for row in key if row["task_kind"] == kind}
    rows, seen = [], set()
    with gzip.open(TRACE, "rt", encoding="utf-8") as handle:
        for line in handle:
            record = CallRecord.model_validate_json(line)
            if record.id not in ids or record.status != "ok" or not record.answer_text():
                continue
            row = {"id": record.id, "messages": [m.model_dump(exclude_none=True) for m in record.messages],
                   "tools": [t.model_dump(exclude_none=True) for t in record.tools] if record.tools else None,
                   "answer": record.answer_text()}
            key = json.dumps([row["messages"], row["tools"], row["answer"]], sort_keys=True)
            if key not in seen:
                seen.add(key)
                rows.append(row)
    return rows


def write_sample_task(kind: str, out_dir: Path, limit: int | None = None, seed: int = 13,
                      val_fraction: float = 0.15, test_fraction: float = 0.15) -> dict[str, int]:
    """Write <out_dir>/{train,val,test}.jsonl for this task kind (at most `limit` calls); returns the counts."""
    rows = sample_rows(kind)
    random.Random(seed).shuffle(rows)
    rows = rows[:limit] if limit else rows
    n_test, n_val = round(len(rows) * test_fraction), round(len(rows) * val_fraction)
    parts = {"test": rows[:n_test], "val": rows[n_test:n_test + n_val], "train": rows[n_test + n_val:]}
    for name, part in parts.items():
        write_jsonl(Path(out_dir) / f"{name}.jsonl", part)
    return {name: len(part) for name, part in parts.items()}


def run_in_scratch(args: argparse.Namespace, prefix: str, run: Callable[[argparse.Namespace, Path], None]) -> None:
    """`run(args, folder)` with the quiet offline defaults set (llm2slm.common.env), in a temporary folder that is
    removed afterwards."""
    from llm2slm.common.env import apply_quiet_offline_defaults

    apply_quiet_offline_defaults()
    with tempfile.TemporaryDirectory(prefix=prefix) as folder:
        run(args, Path(folder))
