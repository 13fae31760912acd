"""Selection (S4) on the bundled trace's four sub-tasks: the shape found, the candidates that survive the
constraints, their screens and the wall time of the whole selection per task, offline (HF_HUB_OFFLINE=1).

    .venv/bin/python benchmarks/selection.py [--limit N] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.sample_task import KINDS, write_sample_task  # noqa: E402
from benchmarks.table import load_note, write_section  # noqa: E402


def discovered_shape(kind: str, task_dir: Path) -> str:
    """The shape discovery reports for the task kind (tool calls, else JSON when most answers are objects)."""
    from llm2slm.discovery.profile import is_json_object

    if kind == "tool_calling":
        return "tool_call"
    answers = [json.loads(line)["answer"] for line in (task_dir / "train.jsonl").read_text().splitlines()]
    return "json" if sum(is_json_object(a) for a in answers) * 2 > len(answers) else "free_text"


def run(limit: int | None) -> list[dict]:
    from llm2slm.common.config import load_config
    from llm2slm.discovery.catalogue import TaskEntry
    from llm2slm.discovery.split import read_split
    from llm2slm.common.env import hub_offline
    from llm2slm.selection.select import select_candidates
    from llm2slm.training.catalogue import load_catalogue

    cfg = load_config(ROOT)
    rows = []
    with tempfile.TemporaryDirectory(prefix="l2s-select-") as tmp:
        for kind in KINDS:
            task_dir = Path(tmp) / kind
            counts = write_sample_task(kind, task_dir, limit=limit)
            started = time.perf_counter()
            entry = TaskEntry(task_id=kind, name=kind, keywords=[], size=sum(counts.values()), exemplars=[],
                              output_shape=discovered_shape(kind, task_dir), n_distinct_answers=0, tokens={})
            choice = select_candidates(entry, read_split(task_dir, "train"), read_split(task_dir, "val"),
                                       load_catalogue(cfg.catalogue_path()), cfg.select, hub_offline())
            seconds = time.perf_counter() - started
            kept = next((v for v in choice.verdicts if v.kept), None)
            rows.append({"task": kind, "train": counts["train"], "shape": choice.output_shape,
                         "eligible": sum(v.eligible for v in choice.verdicts), "kept": choice.candidate or "LLM",
                         "screen": None if kept is None or kept.screen is None else round(kept.screen, 3),
                         "how": kept.screen_method if kept else choice.reasons[-1], "seconds": round(seconds, 1)})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=None, help="calls per task (default: all)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"
    load_before = os.getloadavg()
    rows = run(args.limit)
    load_after = os.getloadavg()
    table = ["| task | train calls | shape | eligible | kept | screen | how | select s |",
             "|---|---|---|---|---|---|---|---|"]
    table += [f"| {r['task']} | {r['train']} | {r['shape']} | {r['eligible']} | {r['kept']} | "
              f"{'-' if r['screen'] is None else r['screen']} | {r['how']} | {r['seconds']} |" for r in rows]
    body = (f"`benchmarks/selection.py`{' --limit ' + str(args.limit) if args.limit else ''} on {platform.machine()}, "
            f"{os.cpu_count()} cores, no GPU, offline (HF_HUB_OFFLINE=1); load average "
            f"{load_before[0]:.1f} before, {load_after[0]:.1f} after ({load_note(max(load_before[0], load_after[0]))}). "
            "Seconds include reading the task's splits, checking every catalogue entry and screening the "
            "survivors on up to `select.screen_calls` validation calls; the first encoder screen also pays for "
            "importing torch/transformers and loading MiniLM.\n\n" + "\n".join(table) + "\n")
    print(body)
    if not args.no_write:
        write_section(ROOT / "docs" / "benchmarks.md", "Selection (S4)", body)


if __name__ == "__main__":
    main()
