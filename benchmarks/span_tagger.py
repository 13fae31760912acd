"""Span tagger on the bundled trace's restaurant slot-filling task: field-level F1 and exact agreement with the
LLM's JSON on a held-out split, after fine-tuning MiniLM (minilm-span-tagger) through the Ray Train code.

    .venv/bin/python benchmarks/span_tagger.py [--limit N] [--workers 2] [--method lora|full] [--no-write]
"""

from __future__ import annotations

import sys
from pathlib import Path

# `python benchmarks/<name>.py` puts benchmarks/ first on sys.path, where a script named like a standard module
# would shadow it: import from the project folder instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import json
import os
import platform
import time

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.sample_task import run_in_scratch, write_sample_task  # noqa: E402
from benchmarks.table import load_note, write_section  # noqa: E402


def field_scores(predicted: list[str], reference: list[str]) -> dict[str, float]:
    """Micro field F1 over (key, value) pairs, as the evaluate stage scores JSON answers (an unparsable
    prediction has no fields), and the share of answers equal to the LLM's as strings."""
    from llm2slm.evaluation.metrics import json_metrics

    scores = json_metrics(predicted, reference)
    return {"field_f1": scores["field_f1"], "precision": scores["field_precision"], "recall": scores["field_recall"],
            "exact": sum(p == r for p, r in zip(predicted, reference, strict=True)) / len(reference)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="calls of the task used (default: all)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--method", choices=["lora", "full"], default="lora")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    run_in_scratch(parser.parse_args(), "span-bench-", run)


def run(args: argparse.Namespace, work: Path) -> None:
    """Build the task under `work`, fine-tune, predict the test split, print and write the figures."""
    from llm2slm.serving.specialist import Specialist
    from llm2slm.training.catalogue import default_catalogue_path, find_candidate, load_catalogue
    from llm2slm.training.data import read_rows
    from llm2slm.training.recipe import recipe_for, task_stats_from_dir
    from llm2slm.training.train import fine_tune

    before = os.getloadavg()[0]  # 1 min, before this benchmark's own workers add to it
    counts = write_sample_task("slot_extraction", work / "task", limit=args.limit)
    candidate = find_candidate(load_catalogue(default_catalogue_path()), "minilm-span-tagger")
    overrides = {"method": args.method, **({"epochs": args.epochs} if args.epochs else {})}
    recipe = recipe_for(candidate, task_stats_from_dir(work / "task"), **overrides)
    print(f"task: {counts}; recipe: {recipe.model_dump(exclude_none=True)}", flush=True)
    result = fine_tune(recipe, work / "task", work / "model", num_workers=args.workers, use_gpu=False,
                       storage_path=work / "runs")
    test = read_rows(work / "task" / "test.jsonl")
    started = time.perf_counter()
    predicted = Specialist.load(result.model_dir).predict_rows(test)
    per_call_ms = (time.perf_counter() - started) / len(test) * 1000
    scores = field_scores(predicted, [r["answer"] for r in test])
    load = os.getloadavg()
    print(json.dumps({**scores, "train_min": result.wall_seconds / 60, "rows_skipped": result.rows_skipped,
                      "per_call_ms": per_call_ms, "load": load}, indent=2))
    if args.no_write:
        return
    body = (f"`benchmarks/span_tagger.py` on the bundled trace's slot-filling task (Restaurant-8k): "
            f"{counts['train']} / {counts['val']} / {counts['test']} calls train / val / test, minilm-span-tagger "
            f"({recipe.method}, {recipe.epochs} epochs, {args.workers} Ray workers), on {os.cpu_count()} cores, "
            f"{platform.machine()}, no GPU; load average {before:.1f} before, {load[0]:.1f} / {load[1]:.1f} / "
            f"{load[2]:.1f} after ({load_note(before)}).\n\n"
            "| measure | value |\n|---|---|\n"
            f"| field F1 vs the LLM's JSON (held-out test) | {scores['field_f1']:.3f} |\n"
            f"| field precision / recall | {scores['precision']:.3f} / {scores['recall']:.3f} |\n"
            f"| exact agreement (whole JSON string) | {scores['exact']:.1%} |\n"
            f"| training rows left out (a value not found in the request) | {result.rows_skipped} |\n"
            f"| fine-tuning, end to end | {result.wall_seconds / 60:.1f} min |\n"
            f"| prediction, batched | {per_call_ms:.1f} ms per call |\n\n")
    write_section(ROOT / "docs" / "benchmarks.md", "span tagger", body)


if __name__ == "__main__":
    main()
