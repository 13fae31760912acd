"""LoRA fine-tuning of a generator on a GPU node through the project's own Ray Train code (`fine_tune`):
tokens/s, peak GPU memory and GPU utilisation. For a platform team sizing GPU nodes; it stops with a clear
message on a machine without a CUDA GPU.

    .venv/bin/python benchmarks/gpu_finetune.py [--model smollm2-135m-instruct] [--task-dir DIR |
        --sample-task sgd_flights] [--limit 2000] [--workers N] [--epochs 1]
        [--batch-size 8] [--quantization none|4bit] [--no-write]

The default model is the packaged SmolLM2-135M-Instruct (llm2slm.common.packaged): the command runs as it is on a
GPU machine with no network. --model is also any Hugging Face id (downloaded unless HF_HUB_OFFLINE=1) or a local
folder. Without --task-dir a task of the bundled trace (any answer-key kind) is built on the fly.
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
import shutil
import subprocess
import tempfile
import threading

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.table import write_section  # noqa: E402

SAMPLE_EVERY_MS = 500  # nvidia-smi sampling interval, milliseconds
HUB_SETTINGS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")  # left to the user: a hub id needs the network


class GpuSampler:
    """nvidia-smi in the background: utilisation (%) and memory used (MiB) of every GPU, every 500 ms."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self.process = subprocess.Popen(
            ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits",
             f"-lms={SAMPLE_EVERY_MS}"], stdout=subprocess.PIPE, text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for line in self.process.stdout:  # type: ignore[union-attr]
            try:
                util, memory = (float(x) for x in line.split(","))
            except ValueError:
                continue
            self.samples.append((util, memory))

    def stop(self) -> dict[str, float]:
        self.process.terminate()
        self.process.wait(timeout=10)
        busy = [u for u, _ in self.samples]
        return {"gpu_util_mean": sum(busy) / max(len(busy), 1), "gpu_util_max": max(busy, default=0.0),
                "gpu_memory_used_max_mib": max((m for _, m in self.samples), default=0.0)}


def require_gpu() -> int:
    """The number of CUDA GPUs; exits with a clear message when there is none."""
    import torch

    if not torch.cuda.is_available() or torch.cuda.device_count() == 0:
        sys.exit("benchmarks/gpu_finetune.py needs a CUDA GPU, and this machine has none "
                 f"(torch {torch.__version__}: torch.cuda.is_available() is False). Run it on a GPU node with a "
                 "CUDA build of torch.")
    if shutil.which("nvidia-smi") is None:
        sys.exit("benchmarks/gpu_finetune.py needs nvidia-smi on PATH to sample GPU utilisation")
    return torch.cuda.device_count()


def task_folder(args: argparse.Namespace, work: Path) -> Path:
    if args.task_dir:
        folder = Path(args.task_dir)
        if not (folder / "train.jsonl").is_file():
            sys.exit(f"--task-dir {folder}: train.jsonl is missing (a task folder written by the split stage)")
        return folder
    from benchmarks.sample_task import write_sample_task

    write_sample_task(args.sample_task, work / "task", limit=args.limit)
    return work / "task"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct",
                        help="the packaged SmolLM2 (no download), a hub id or a local path")
    parser.add_argument("--task-dir", default=None, help="a task folder with train.jsonl (and val.jsonl)")
    parser.add_argument("--sample-task", default="sgd_flights", help="a task kind of the bundled answer key")
    parser.add_argument("--limit", type=int, default=2000, help="calls of the sample task used")
    parser.add_argument("--workers", type=int, default=None, help="Ray workers, one GPU each (default: all GPUs)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=8, help="examples per optimizer step, all workers")
    parser.add_argument("--quantization", choices=["none", "4bit"], default="none")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()

    gpus = require_gpu()
    from llm2slm.common.env import quiet_offline_defaults

    for key, value in quiet_offline_defaults().items():
        if key not in HUB_SETTINGS:
            os.environ.setdefault(key, value)
    import torch

    from llm2slm.training.catalogue import Candidate
    from llm2slm.training.recipe import recipe_for, task_stats_from_dir
    from llm2slm.training.train import fine_tune

    work = Path(tempfile.mkdtemp(prefix="gpu-finetune-"))
    task = task_folder(args, work)
    candidate = Candidate(name="gpu-benchmark", kind="generator", architecture="decoder", base=args.model,
                          params=1, context_length=32768, licence="unknown",
                          output_shapes=["json", "tool_call", "free_text"], method="lora", offline=False)
    recipe = recipe_for(candidate, task_stats_from_dir(task), epochs=args.epochs, batch_size=args.batch_size,
                        quantization=args.quantization, max_val_examples=64)
    workers = args.workers or gpus
    sampler = GpuSampler()
    try:
        result = fine_tune(recipe, task, work / "model", num_workers=workers, use_gpu=True,
                           storage_path=work / "runs", max_failures=0)
    finally:
        gpu = sampler.stop()
    last = result.history[-1]
    name = torch.cuda.get_device_name(0)
    rows = [("model", f"{args.model} (LoRA r={recipe.lora_r}, {recipe.quantization})"),
            ("task", f"{task.name if args.task_dir else args.sample_task}: {result.n_train} training calls, "
                     f"{recipe.epochs} epoch(s), batch {recipe.batch_size}, max {recipe.max_length} tokens"),
            ("workers", f"{workers} x {name}"),
            ("tokens/s (non-padding, all workers, last epoch)", f"{result.tokens_per_s:,.0f}"),
            ("examples/s", f"{result.examples_per_s:.1f}"),
            ("peak GPU memory allocated by torch (rank 0)", f"{last.get('gpu_peak_allocated_gib', 0):.2f} GiB"),
            ("peak GPU memory used (nvidia-smi, any GPU)", f"{gpu['gpu_memory_used_max_mib'] / 1024:.2f} GiB"),
            ("GPU utilisation, mean / max over the run (nvidia-smi)",
             f"{gpu['gpu_util_mean']:.0f}% / {gpu['gpu_util_max']:.0f}%"),
            ("training time / end to end", f"{result.train_seconds:.0f} s / {result.wall_seconds:.0f} s")]
    table = "| measure | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)
    print(table)
    if not args.no_write:
        body = (f"`benchmarks/gpu_finetune.py` on {platform.node() or 'a GPU node'} ({os.cpu_count()} cores, "
                f"{gpus} GPU(s)).\n\n{table}\n\n")
        write_section(ROOT / "docs" / "benchmarks.md", "fine-tuning on a GPU", body)


if __name__ == "__main__":
    main()
