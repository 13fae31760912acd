"""The demo's input: the bundled agent trace, whole or as a seeded random subsample, ingested into the store."""

from __future__ import annotations

import gzip
import random
import tempfile
from pathlib import Path

from llm2slm.common.config import Config
from llm2slm.sample import bundled_trace_path
from llm2slm.capture import open_store


def subsample_lines(trace: Path, n: int | None, seed: int = 0) -> list[str]:
    with gzip.open(trace, "rt", encoding="utf-8") as handle:
        lines = [line for line in handle if line.strip()]
    if n is None or n >= len(lines):
        return lines
    return sorted(random.Random(seed).sample(lines, n))


def ingest_sample(cfg: Config, n: int | None, trace: Path | None = None) -> str:
    trace = trace or bundled_trace_path()
    lines = subsample_lines(trace, n)
    with tempfile.TemporaryDirectory(dir=cfg.paths.home) as tmp:
        path = Path(tmp) / "sample.jsonl"
        path.write_text("".join(lines), encoding="utf-8")
        with open_store(cfg) as store:
            report = store.ingest(path)
    return (f"bundled trace: {report.read} calls read, {report.stored} stored, {report.already_stored} already "
            f"in the store ({cfg.paths.store})")
