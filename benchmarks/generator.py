"""SmolLM2-135M-Instruct as a generator specialist on this machine's CPU: LoRA training tokens/s with 1 and 2 Ray
workers, what computing the loss over every position would cost, and generation (latency per call, tokens/s) with
and without constrained decoding, on one agent of the bundled trace.

    .venv/bin/python benchmarks/generator.py [--kind sgd_flights] [--calls 48] [--test-calls 16] [--no-write]
    .venv/bin/python benchmarks/generator.py --curve 12000 48000 192000 [--kind sgd_flights] [--test-calls 96]

The first form writes the section "generator"; `--curve` trains at each token budget (2 workers, the pipeline's
recipe) and writes "generator: agreement against training tokens" with the tool-call figures on held-out calls.
"""

from __future__ import annotations

import sys
from pathlib import Path

# `python benchmarks/<name>.py` puts benchmarks/ first on sys.path, where a script named like a standard module
# would shadow it: import from the project folder instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import json
import logging
import multiprocessing
import os
import platform
import time

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.sample_task import run_in_scratch, write_sample_task  # noqa: E402
from benchmarks.table import load_note, write_section  # noqa: E402

CANDIDATE = "smollm2-135m-instruct"
THREADS = 1  # torch threads per process: a 2-thread process on shared cores waits for its slower thread
STEPS = 4  # optimizer steps (8 calls each) timed in-process for the loss-head comparison


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def pipeline_recipe(task: Path, **overrides):
    """The recipe the pipeline would use for this task (`recipe_for` of the catalogue entry)."""
    from llm2slm.training.catalogue import default_catalogue_path, find_candidate, load_catalogue
    from llm2slm.training.recipe import capped_length, recipe_for, task_stats_from_dir

    from llm2slm.common.config import FinetuneConfig

    candidate = find_candidate(load_catalogue(default_catalogue_path()), CANDIDATE)
    recipe = recipe_for(candidate, task_stats_from_dir(task), **overrides)
    return capped_length(recipe, FinetuneConfig().generator_max_length)  # what finetune_candidate applies


def loss_head_cost(recipe, rows: list[dict]) -> dict[str, float]:
    """Tokens/s of LoRA steps in one process, loss on the kept answer logits vs over every position (what
    transformers' Trainer and TRL's SFTTrainer compute by default: `model(**batch, labels=...)`)."""
    import torch

    from llm2slm.training.data import make_collator
    from llm2slm.training.models import build_generator
    from llm2slm.training.steps import generator_loss, micro_batches

    torch.set_num_threads(THREADS)
    model, tokenizer = build_generator(recipe)
    model.train()
    collate = make_collator(recipe, tokenizer)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=recipe.learning_rate)
    batches = [piece for i in range(min(STEPS, len(rows) // 8))  # pieces of micro_batch_size rows, as training runs
               for piece in micro_batches(collate(rows[i * 8:(i + 1) * 8]), recipe.micro_batch_size)]
    out = {}
    for mode in ("answer logits", "every position"):
        generator_loss(model, batches[0])[0].backward()  # warm-up step, not timed
        optimizer.zero_grad(set_to_none=True)
        started, tokens = time.perf_counter(), 0.0
        for batch in batches:
            loss = generator_loss(model, batch)[0] if mode == "answer logits" else model(**batch).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            tokens += float(batch["attention_mask"].sum())
        out[mode] = tokens / (time.perf_counter() - started)
    return out


def ray_training(recipe, task: Path, work: Path, workers: int) -> object:
    from llm2slm.training.train import fine_tune

    return fine_tune(recipe, task, work / f"model-{workers}", num_workers=workers, use_gpu=False,
                     storage_path=work / "runs", max_failures=0, threads_per_worker=THREADS)


def generation(model_dir: Path, rows: list[dict], decoding: str) -> dict[str, float]:
    """Greedy generation with `decoding` ('none' or the recipe's): one call at a time (latency) and in one batch."""
    import torch

    from llm2slm.common.stats import percentile
    from llm2slm.serving.specialist import Specialist

    specialist = Specialist.load(model_dir)
    torch.set_num_threads(2)  # serving: one process, both cores
    specialist.meta["decoding"] = decoding
    single, tokens = [], 0
    for row in rows:
        started = time.perf_counter()
        answer = specialist.predict_rows([row])[0]
        single.append((time.perf_counter() - started) * 1000.0)
        tokens += len(specialist.tokenizer(answer, add_special_tokens=False)["input_ids"]) + 1
    started = time.perf_counter()
    batched = specialist.predict_rows(rows)
    batch_s = time.perf_counter() - started
    parsed = sum(_parses(a) for a in batched)
    return {"latency_ms_p50": percentile(single, 50), "latency_ms_p95": percentile(single, 95),
            "tokens_per_s_single": tokens / (sum(single) / 1000.0), "calls_per_s_batch": len(rows) / batch_s,
            "tool_calls_parsing": parsed}


def _parses(answer: str) -> int:
    if not answer.startswith("["):
        return 0
    try:
        return int(isinstance(json.loads(answer), list))
    except json.JSONDecodeError:
        return 0


def speed(args: argparse.Namespace, work: Path) -> None:
    from llm2slm.training.train import _ensure_ray

    counts = write_sample_task(args.kind, work / "task", limit=round(args.calls / 0.7) + args.test_calls)
    task = work / "task"
    recipe = pipeline_recipe(task, epochs=1, max_val_examples=8, checkpoint_every_steps=0)
    rows = read_rows(task / "train.jsonl")[:args.calls]
    (task / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    loads = [os.getloadavg()[0]]
    with multiprocessing.get_context("spawn").Pool(1) as pool:  # its memory goes back before Ray starts
        head = pool.apply(loss_head_cost, (recipe, rows))
    loads.append(os.getloadavg()[0])
    _ensure_ray(None, work)
    trained = {w: ray_training(recipe, task, work, w) for w in (1, 2)}
    loads.append(os.getloadavg()[0])
    test = read_rows(task / "test.jsonl")[:args.test_calls]
    gen = {mode: generation(trained[1].model_dir, test, mode) for mode in ("none", recipe.decoding)}
    loads.append(os.getloadavg()[0])
    table = speed_table(head, trained, gen, recipe.decoding, len(test))
    print(table)
    if not args.no_write:
        body = (f"`benchmarks/generator.py`: {CANDIDATE} (LoRA r={recipe.lora_r} on {', '.join(recipe.lora_targets)}, "
                f"fp32) on {len(rows)} train calls of the bundled `{args.kind}` agent ({counts}), batch "
                f"{recipe.batch_size}, prompts cut to {recipe.max_length} tokens, {THREADS} torch thread per "
                f"training process; generation on {len(test)} held-out calls with 2 threads, greedy, at most "
                f"{recipe.max_new_tokens} new tokens. {os.cpu_count()} cores, {platform.machine()}, no GPU; 1-minute "
                f"load {', '.join(f'{x:.1f}' for x in loads)} ({load_note(max(loads))}).\n\n{table}\n\n")
        write_section(ROOT / "docs" / "benchmarks.md", "generator", body)


def speed_table(head: dict, trained: dict, gen: dict, decoding: str, n_test: int) -> str:
    lines = ["| measure | value |", "|---|---|"]
    for mode, rate in head.items():
        lines.append(f"| LoRA step, 1 process, loss over {mode} | {rate:.0f} tokens/s |")
    for workers, result in trained.items():
        lines.append(f"| LoRA training in Ray Train, {workers} worker{'s' if workers > 1 else ''} | "
                     f"{result.tokens_per_s:.0f} tokens/s ({result.examples_per_s:.2f} calls/s; "
                     f"{result.wall_seconds:.0f} s end to end) |")
    for mode, g in gen.items():
        name = "unconstrained" if mode == "none" else f"constrained ({mode})"
        lines.append(f"| generation {name}: one call | p50 {g['latency_ms_p50']:.0f} ms, p95 "
                     f"{g['latency_ms_p95']:.0f} ms, {g['tokens_per_s_single']:.1f} tokens/s |")
        lines.append(f"| generation {name}: {n_test} calls in one batch | {g['calls_per_s_batch']:.2f} calls/s; "
                     f"{g['tool_calls_parsing']} tool-call answers parse |")
    return "\n".join(lines)


def curve(args: argparse.Namespace, work: Path) -> None:
    """Train at each token budget with the pipeline's recipe and 2 workers; the tool-call figures on test calls."""
    from llm2slm.evaluation.metrics import shape_metrics
    from llm2slm.serving.specialist import Specialist
    from llm2slm.training.train import _ensure_ray

    write_sample_task(args.kind, work / "task")
    task = work / "task"
    recipe = pipeline_recipe(task, epochs=2, checkpoint_every_steps=0)
    test = read_rows(task / "test.jsonl")[:args.test_calls]
    _ensure_ray(None, work)
    lines = ["| training tokens | train calls | agreement | decision | function name | arguments exact | "
             "tool calls valid | text ROUGE-L | training time |", "|---|---|---|---|---|---|---|---|---|"]
    for budget in args.curve:
        result = fine_tune_at(recipe, task, work, budget)
        predicted = Specialist.load(result.model_dir).predict_rows(test)
        m = shape_metrics("tool_call", predicted, [r["answer"] for r in test], [r.get("tools") for r in test])
        lines.append(f"| {result.budget.tokens:,} | {result.budget.calls_kept} | {m['agreement']:.3f} | "
                     f"{m.get('decision_accuracy', 0):.3f} | {m.get('function_name_accuracy', 0):.3f} | "
                     f"{m.get('argument_exact_match', 0):.3f} | {m.get('tool_call_valid', 1):.3f} | "
                     f"{m.get('text_rouge_l', 0):.3f} | {result.train_seconds:.0f} s |")
        print(lines[-1], flush=True)
    table = "\n".join(lines)
    if not args.no_write:
        body = (f"`benchmarks/generator.py --curve`: {CANDIDATE} trained with the pipeline's recipe (LoRA "
                f"r={recipe.lora_r}, {recipe.epochs} epochs, 2 Ray workers) on the bundled `{args.kind}` agent at "
                f"each budget of tokens through forward and backward, scored on {len(test)} held-out calls with "
                f"constrained decoding ({recipe.decoding}). {os.cpu_count()} cores, no GPU.\n\n{table}\n\n")
        write_section(ROOT / "docs" / "benchmarks.md", "generator: agreement against training tokens", body)


def fine_tune_at(recipe, task: Path, work: Path, budget: int):
    from llm2slm.training.train import fine_tune

    return fine_tune(recipe, task, work / f"model-{budget}", num_workers=2, use_gpu=False,
                     storage_path=work / "runs", max_failures=0, threads_per_worker=THREADS,
                     max_train_tokens=budget)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", default="sgd_flights", help="a task kind of the bundled answer key")
    parser.add_argument("--calls", type=int, default=48, help="train calls timed (speed)")
    parser.add_argument("--test-calls", type=int, default=16, help="held-out calls generated")
    parser.add_argument("--curve", type=int, nargs="*", default=None, help="token budgets to train at")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    # the fine-tunes' progress lines (every 20 s) and the budget each one kept
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S")
    run_in_scratch(args, "generator-bench-", curve if args.curve else speed)


if __name__ == "__main__":
    main()
