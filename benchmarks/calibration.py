"""Calibrated deferral on a trained home's specialists: per task, the confidence threshold calibrated on the val
split at the target agreement, and the test coverage and agreements it gives; for a span tagger, how well two
confidences (the least word-tag probability, used; their product) rank its answers' correctness.

    .venv/bin/python benchmarks/calibration.py [--home .llm2slm] [--targets 0.98 0.99] [--no-write]
"""

from __future__ import annotations

import sys
from pathlib import Path

# `python benchmarks/<name>.py` puts benchmarks/ first on sys.path, where a script named like a standard module
# would shadow it: import from the project folder instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import json
import math
import os
import platform
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.table import load_note, write_section  # noqa: E402


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()] \
        if path.is_file() else []


def specialists(home: Path) -> list[tuple[str, Path]]:
    """(task id, model folder) of every task with a split and a trained specialist in the home."""
    found = []
    for task_dir in sorted((home / "data" / "tasks").glob("task-*")):
        models = sorted(p for p in (home / "models" / task_dir.name).glob("*") if (p / "specialist.json").is_file())
        if models and (task_dir / "val.jsonl").is_file():
            found.append((task_dir.name, models[0]))
    return found


def tag_products(specialist: Any, rows: list[dict]) -> list[float]:
    """The product over deciding tokens of the chosen tag's probability (the alternative to the least one)."""
    import torch

    from llm2slm.training.spans import deciding_tokens
    from llm2slm.training.tagger import encode_for_tagging, token_offsets

    out = []
    with torch.no_grad():
        for start in range(0, len(rows), 32):
            batch, texts = encode_for_tagging(specialist.tokenizer, rows[start:start + 32],
                                              int(specialist.meta["max_length"]))
            inputs = {k: v for k, v in batch.items() if k != "offset_mapping"}
            best = specialist.model(**inputs).float().softmax(-1).max(-1).values.tolist()
            out += [math.prod(best[i][j] for j in deciding_tokens(token_offsets(batch, i), text))
                    for i, text in enumerate(texts)]
    return out


def route(val: dict, test: dict, confidence: str, target: float, min_calls: int, majority: str,
          z: float = 0.0) -> dict:
    from llm2slm.evaluation.calibration import at_threshold, calibrate

    calibration = calibrate(val["answers"], val[confidence], val["reference"], target, min_calls, majority, z)
    figures = at_threshold(test["answers"], test[confidence], test["reference"], calibration.threshold, majority)
    return {"threshold": calibration.threshold, "reached": calibration.reached, **figures.model_dump()}


def measure_task(task_id: str, model_dir: Path, home: Path, targets: list[float], min_calls: int,
                 z: float = 0.0) -> dict:
    from sklearn.metrics import roc_auc_score

    from llm2slm.evaluation.agreement import agreement, answers_agree
    from llm2slm.evaluation.calibration import majority_answer, non_majority_agreement
    from llm2slm.serving.specialist import Specialist

    specialist = Specialist.load(model_dir)
    task_dir = home / "data" / "tasks" / task_id
    majority = majority_answer([r["answer"] for r in read_rows(task_dir / "train.jsonl")])
    splits = {}
    for part in ("val", "test"):
        rows = read_rows(task_dir / f"{part}.jsonl")
        answered = specialist.predict_with_confidence(rows)
        splits[part] = {"answers": [a for a, _ in answered], "least": [c for _, c in answered],
                        "reference": [r["answer"] for r in rows]}
        if specialist.kind == "span_tagger":
            splits[part]["product"] = tag_products(specialist, rows)
    val, test = splits["val"], splits["test"]
    result = {"task_id": task_id, "kind": specialist.kind, "n_val": len(val["answers"]), "n_test": len(test["answers"]),
              "majority": majority, "majority_share": sum(answers_agree(r, majority) for r in test["reference"])
              / len(test["reference"]), "agreement": agreement(test["answers"], test["reference"]),
              "agreement_non_majority": non_majority_agreement(test["answers"], test["reference"], majority),
              "route": {t: route(val, test, "least", t, min_calls, majority, z) for t in targets}}
    if specialist.kind == "span_tagger":
        result["tagger"] = {}
        ok = {part: [answers_agree(a, r) for a, r in zip(d["answers"], d["reference"], strict=True)]
              for part, d in splits.items()}
        for name in ("least", "product"):
            result["tagger"][name] = {"auroc_val": roc_auc_score(ok["val"], val[name]),
                                      "auroc_test": roc_auc_score(ok["test"], test[name]),
                                      "route": route(val, test, name, targets[0], min_calls, majority, z)}
    return result


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def task_table(results: list[dict], target: float) -> str:
    lines = ["| task | kind | val / test calls | majority answer (share of test) | test agreement | test non-majority "
             "agreement | threshold (val) | test coverage | test agreement covered | test non-majority agreement "
             "covered |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        t = r["route"][target]
        threshold = f"{t['threshold']:.4f}" if t["reached"] else f"{t['threshold']} (none reaches)"
        lines.append(f"| {r['task_id']} | {r['kind']} | {r['n_val']} / {r['n_test']} | `{r['majority'][:40]}` "
                     f"({r['majority_share']:.1%}) | {pct(r['agreement'])} | {pct(r['agreement_non_majority'])} | "
                     f"{threshold} | {pct(t['coverage'])} ({t['n_covered']}) | {pct(t['agreement'])} | "
                     f"{pct(t['agreement_non_majority'])} |")
    return "\n".join(lines) + "\n"


def tagger_table(results: list[dict]) -> str:
    lines = ["| task | confidence | AUROC (answer agrees), val / test | threshold (val) | test coverage | test "
             "agreement covered | test non-majority agreement covered |", "|---|---|---|---|---|---|---|"]
    for r in results:
        for name, m in r.get("tagger", {}).items():
            label = {"least": "least word-tag probability (used)", "product": "product of word-tag probabilities"}
            t = m["route"]
            lines.append(f"| {r['task_id']} | {label[name]} | {m['auroc_val']:.4f} / {m['auroc_test']:.4f} | "
                         f"{t['threshold']:.4g} | "
                         f"{pct(t['coverage'])} | {pct(t['agreement'])} | {pct(t['agreement_non_majority'])} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=ROOT / ".llm2slm", help="a home with data/tasks and models")
    parser.add_argument("--targets", type=float, nargs="+", default=None,
                        help="target agreements, the first one also for the tagger comparison (default: "
                             "route.target_agreement and 0.99)")
    parser.add_argument("--z", type=float, default=None, help="Wilson lower-bound width (default route.calibration_z)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    from llm2slm.common.config import RouteConfig

    defaults = RouteConfig()
    targets = args.targets or [defaults.target_agreement, 0.99]
    before = os.getloadavg()[0]
    z_used = args.z if args.z is not None else defaults.calibration_z
    results = [measure_task(task_id, model_dir, args.home, targets, defaults.min_calibration_calls, z_used)
               for task_id, model_dir in specialists(args.home)]
    load = os.getloadavg()
    print(json.dumps(results, indent=1))
    index = json.loads((args.home / "data" / "tasks" / "index.json").read_text())
    all_test = sum(t["test"] for t in index)
    body = (f"`benchmarks/calibration.py` on a trained home's specialists, at least {defaults.min_calibration_calls} "
            "val calls covered; the majority answer is the training split's; the threshold is calibrated on the val "
            f"split (target read on the Wilson lower bound, z = {z_used:g}), then applied to the test split. {os.cpu_count()} cores, {platform.machine()}, no GPU; load "
            f"average {before:.1f} before, {load[0]:.1f} after ({load_note(before)}; the figures do not depend on "
            "speed).\n\n")
    for target in targets:
        covered = sum(r["route"][target]["n_covered"] for r in results)
        agreed = sum(r["route"][target]["n_covered"] * (r["route"][target]["agreement"] or 0) for r in results)
        body += (f"Target agreement {target:g}:\n\n" + task_table(results, target)
                 + f"\nTogether the specialists answer {covered} of the {all_test} test calls of all {len(index)} "
                 f"tasks ({covered / all_test:.1%}; tasks without a specialist count as not answered), agreeing with "
                 f"the LLM on {agreed / max(1, covered):.1%} of them.\n\n")
    body += (f"Span tagger confidence at target {targets[0]:g}, two ways of combining the chosen tag's probability "
             "over the words that decide a tag:\n\n" + tagger_table(results) + "\n")
    print(body)
    if not args.no_write:
        write_section(ROOT / "docs" / "benchmarks.md", "calibration", body)


if __name__ == "__main__":
    main()
