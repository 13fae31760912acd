"""Ray Train against a plain PyTorch loop: the same model (MiniLM + LoRA classifier), data (the sample's banking
triage task), batch size and optimizer steps, with 1 and 2 Ray workers.

Steady-state throughput is the median epoch after the first (which warms up), measured inside the training steps:
other processes sharing the cores slow some epochs down, and the median resists them. The fixed
start-up of a Ray run (worker processes, imports, process group, model load) and the end-to-end time are
reported separately.

    .venv/bin/python benchmarks/train.py [--rows 640] [--epochs 3] [--no-write]
"""

from __future__ import annotations

import sys
from pathlib import Path

# `python benchmarks/<name>.py` puts benchmarks/ first on sys.path, where a script named like a standard module
# would shadow it: import from the project folder instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import os
import platform
import tempfile
import time

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.sample_task import run_in_scratch, write_sample_task  # noqa: E402
from benchmarks.table import write_section  # noqa: E402

THREADS = 1  # torch threads per process in every run (see the note written with the table)


def _median(items: list, key):
    """The item with the median key (the lower middle one for an even count)."""
    ordered = sorted(items, key=key)
    return ordered[(len(ordered) - 1) // 2]


def plain_loop(recipe, task_dir: Path, threads: int) -> dict[str, float]:
    """The training loop without Ray: one process, `threads` torch threads, no DDP."""
    import math

    import torch
    from torch.utils.data import DataLoader, DistributedSampler
    from transformers import get_linear_schedule_with_warmup

    from llm2slm.training.data import make_collator, read_rows
    from llm2slm.training.models import build_model, save_specialist
    from llm2slm.training.steps import make_optimizer, train_step

    started = time.perf_counter()
    torch.set_num_threads(threads)
    torch.manual_seed(recipe.seed)
    rows = read_rows(task_dir / "train.jsonl")
    model, tokenizer = build_model(recipe)
    # the sampler a 1-worker Ray run uses, with the same seed and epoch numbers: the same batches in the same order,
    # so both runs pad to the same lengths and do the same arithmetic
    sampler = DistributedSampler(rows, num_replicas=1, rank=0, shuffle=True, seed=recipe.seed)
    loader = DataLoader(rows, batch_size=recipe.batch_size, sampler=sampler, collate_fn=make_collator(recipe, tokenizer))
    optimizer = make_optimizer(model, recipe)
    total = recipe.epochs * len(loader)  # optimizer steps
    scheduler = get_linear_schedule_with_warmup(optimizer, math.ceil(recipe.warmup_ratio * total), total)
    trainable = [p for p in model.parameters() if p.requires_grad]
    model.train()
    epochs = []
    for epoch in range(1, recipe.epochs + 1):
        sampler.set_epoch(epoch)
        start, examples, tokens = time.perf_counter(), 0, 0.0
        for batch in loader:
            train_step(model, batch, optimizer, scheduler, trainable, recipe.kind, recipe.label_smoothing)
            examples, tokens = examples + len(batch["input_ids"]), tokens + float(batch["attention_mask"].sum())
        epochs.append((time.perf_counter() - start, examples, tokens))
    with tempfile.TemporaryDirectory() as folder:
        save_specialist(model, tokenizer, recipe, folder)
    seconds, examples, tokens = _median(epochs[1:] or epochs, key=lambda e: e[1] / e[0])
    return {"examples_per_s": examples / seconds, "tokens_per_s": tokens / seconds, "steps": float(total),
            "train_s": sum(e[0] for e in epochs), "wall_s": time.perf_counter() - started}


def ray_run(recipe, task_dir: Path, workers: int, storage: Path, threads: int) -> dict[str, float]:
    from llm2slm.training.train import fine_tune

    result = fine_tune(recipe, task_dir, storage / f"model-{workers}", num_workers=workers, use_gpu=False,
                       storage_path=storage / "runs", max_failures=0, threads_per_worker=threads)
    steady = _median(result.history[1:] or result.history, key=lambda h: h["examples_per_s"])
    return {"examples_per_s": steady["examples_per_s"], "tokens_per_s": steady["tokens_per_s"],
            "steps": float(result.steps), "train_s": result.train_seconds, "wall_s": result.wall_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=480, help="training calls (15 steps of 32 per epoch)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    run_in_scratch(parser.parse_args(), "train-bench-", run)


def run(args: argparse.Namespace, work: Path) -> None:
    """Build the task under `work`, time the three runs, print and write the table."""
    from llm2slm.training.catalogue import default_catalogue_path, find_candidate, load_catalogue
    from llm2slm.training.recipe import recipe_for, task_stats_from_dir
    from llm2slm.training.train import _ensure_ray

    write_sample_task("banking_triage", work / "task", limit=round(args.rows / 0.7))
    candidate = find_candidate(load_catalogue(default_catalogue_path()), "minilm-classifier")
    stats = task_stats_from_dir(work / "task")
    recipe = recipe_for(candidate, stats, epochs=args.epochs, max_val_examples=0, checkpoint_every_steps=0)
    cores = os.cpu_count() or 1
    loads = [os.getloadavg()]
    plain_name = "plain PyTorch loop (1 process)"
    results = {plain_name: plain_loop(recipe, work / "task", THREADS)}
    loads.append(os.getloadavg())
    ray_start = time.perf_counter()
    _ensure_ray(None, work)
    ray_init_s = time.perf_counter() - ray_start
    for workers in (1, 2):
        results[f"Ray Train, {workers} worker{'s' if workers > 1 else ''}"] = ray_run(recipe, work / "task", workers,
                                                                               work, THREADS)
        loads.append(os.getloadavg())
    plain = results[plain_name]
    one = results["Ray Train, 1 worker"]
    lines = ["| run | steady examples/s | steady tokens/s | vs plain loop | steps | training | start-up + save | end to end |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['examples_per_s']:.1f} | {r['tokens_per_s']:.0f} | "
                     f"{r['examples_per_s'] / plain['examples_per_s'] - 1:+.1%} | {r['steps']:.0f} | "
                     f"{r['train_s']:.1f} s | {r['wall_s'] - r['train_s']:.1f} s | {r['wall_s']:.1f} s |")
    table = "\n".join(lines)
    two = results["Ray Train, 2 workers"]
    overhead = 1 - one["examples_per_s"] / plain["examples_per_s"]
    speedup = two["examples_per_s"] / one["examples_per_s"]
    print(table)
    print(f"overhead {overhead:+.1%}, 2-worker speed-up x{speedup:.2f}, ray.init {ray_init_s:.1f} s, loads {loads}")
    if args.no_write:
        return
    load_text = ", ".join(f"{a:.1f}" for a, _, _ in loads)
    busy = ("other processes shared the cores, so the figures are noisy" if max(a for a, _, _ in loads) > 2.5
            else "no other work on the machine: the load is this benchmark's own")
    body = (f"`benchmarks/train.py`: MiniLM + LoRA classifier ({len(recipe.labels or [])} labels) on {stats.n_train} "
            f"calls of the sample's banking triage task, batch {recipe.batch_size}, {args.epochs} epochs, on "
            f"{cores} cores, {platform.machine()}, no GPU. 1-minute load average before and after each run: "
            f"{load_text} ({busy}).\n\n{table}\n\n"
            f"Every process runs 1 torch thread: on cores shared with other busy processes, a 2-thread process "
            f"waits for its slower thread at every operation (in an earlier run a 2-thread plain loop and a "
            f"2-thread Ray worker both ran at 10-13 examples/s while 2 one-thread workers ran at 61). Steady state = "
            f"the median epoch after the first, inside its training steps. Ray Train with 1 worker runs at "
            f"{1 - overhead:.1%} of the plain loop's throughput (overhead {overhead:.1%}; over all its training "
            f"steps, {one['train_s'] / plain['train_s'] - 1:+.1%} time); 2 workers (DDP over gloo) reach "
            f"x{speedup:.2f} of 1 worker. With other processes on the same cores, repeated runs differ widely: "
            f"compare runs made at a low load average. "
            f"Fixed costs: `ray.init` {ray_init_s:.1f} s once per process; each `fit()` then adds the start-up in "
            f"the table (worker processes, imports, process group, model load) and saving the specialist.\n\n")
    write_section(ROOT / "docs" / "benchmarks.md", "fine-tuning: Ray Train vs plain PyTorch", body)


if __name__ == "__main__":
    main()
