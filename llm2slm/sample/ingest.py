"""The demo's input: the bundled agent trace, whole or as a seeded random subsample, ingested into the store."""

from __future__ import annotations

import gzip
import json
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


def split_by_time(lines: list[str], later_share: float) -> tuple[list[str], list[str]]:
    """(earlier, later) calls: the latest `later_share` of the calls by timestamp, and the rest."""
    if not 0 <= later_share < 1:
        raise ValueError(f"the replayed share must be in [0, 1), got {later_share}")
    ordered = sorted(lines, key=lambda line: json.loads(line)["timestamp"])
    cut = len(ordered) - int(round(len(ordered) * later_share))
    return ordered[:cut], ordered[cut:]


def ingest_sample(cfg: Config, n: int | None, trace: Path | None = None,
                  replay_share: float = 0.0) -> tuple[str, list[str]]:
    """Ingest the trace (or a subsample), less its latest `replay_share` of calls by time, which are returned
    (as JSONL lines, in time order) for the replay through the gateway."""
    trace = trace or bundled_trace_path()
    lines, later = split_by_time(subsample_lines(trace, n), replay_share)
    with tempfile.TemporaryDirectory(dir=cfg.paths.home) as tmp:
        path = Path(tmp) / "sample.jsonl"
        path.write_text("".join(lines), encoding="utf-8")
        with open_store(cfg) as store:
            report = store.ingest(path)
    held = f"; the latest {len(later)} held back for the replay" if later else ""
    return (f"bundled trace: {report.read} calls read, {report.stored} stored, {report.already_stored} already "
            f"in the store ({cfg.paths.store}){held}"), later
