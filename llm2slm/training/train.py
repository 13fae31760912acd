"""Fine-tuning with Ray Train: one training function run by every worker, and `fine_tune` that launches it.

Data parallel: each worker holds a full model copy (DistributedDataParallel via `prepare_model`), reads its own
shard of the training rows (a DistributedSampler), and gradients are averaged across workers every step. Rank 0
saves the specialist at the end and reports it as a Ray checkpoint; `fine_tune` copies it to `out_dir`. This
works the same on a laptop (Ray started in process) and on a Ray cluster reached through `ray_address`, provided
`storage_path` is storage that every node can reach.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel

from llm2slm.training.data import IGNORE, make_collator, read_rows, sample_rows
from llm2slm.training.models import SPECIALIST_FILE, build_model, save_specialist
from llm2slm.training.prompts import training_texts
from llm2slm.training.recipe import Recipe

METRICS_FILE = "training_metrics.json"
RAY_OBJECT_STORE_BYTES = 256 * 1024**2  # object store of an in-process Ray, bytes
MAX_SOCKET_DIR_CHARS = 40  # Ray appends ~62 chars (session_<time>_<pid>/sockets/plasma_store); a socket path must stay under 107 bytes


class TrainResult(BaseModel):
    model_dir: Path
    metrics: dict[str, float]  # the last epoch's metrics (rank 0 view, sums over all workers)
    history: list[dict[str, float]]  # one entry per epoch
    wall_seconds: float  # fine_tune end to end: reading data, Ray start-up, training, saving, copying
    train_seconds: float  # time inside the epochs' training steps
    examples_per_s: float  # training examples per second, all workers together (last epoch)
    tokens_per_s: float  # non-padding tokens per second through forward and backward, all workers (last epoch)
    n_train: int
    n_val: int
    run_name: str


def _loss(model: torch.nn.Module, batch: dict[str, torch.Tensor], kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean loss over the batch, logits)."""
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    if kind == "classifier":
        logits = model(**inputs)
        return torch.nn.functional.cross_entropy(logits, batch["labels"], ignore_index=IGNORE), logits
    output = model(**inputs, labels=batch["labels"])
    return output.loss, output.logits


def _sum_across_workers(values: list[float], device: torch.device) -> list[float]:
    """Element-wise sum of `values` over all workers (identity with one worker)."""
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.all_reduce(tensor)
    return tensor.tolist()


@torch.no_grad()
def _validate(model: torch.nn.Module, rows: list[dict], collate: Any, kind: str, device: torch.device) -> list[float]:
    """[loss sum, scored units, correct units] on this worker's validation rows; units are examples
    (classifier: argmax = label) or answer tokens (generator: teacher-forced next-token accuracy)."""
    model.eval()
    loss_sum = units = correct = 0.0
    for start in range(0, len(rows), 64):  # 64 rows per forward pass
        batch = {k: v.to(device) for k, v in collate(rows[start : start + 64]).items()}
        loss, logits = _loss(model, batch, kind)
        labels = batch["labels"]
        if kind == "classifier":
            scored = labels != IGNORE
            loss_sum += float(loss) * int(scored.sum()) if scored.any() else 0.0
            units += len(labels)  # answers outside the label set count as wrong
            correct += float((logits.argmax(-1) == labels).sum())
        else:
            targets, predicted = labels[:, 1:], logits[:, :-1].argmax(-1)
            scored = targets != IGNORE
            loss_sum += float(loss) * int(scored.sum())
            units += int(scored.sum())
            correct += float(((predicted == targets) & scored).sum())
    model.train()
    return [loss_sum, units, correct]


def _optimizer(model: torch.nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    """AdamW over the trainable parameters; a classifier's head may get its own (higher) rate."""
    head, body = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (head if name.startswith("head.") else body).append(param)
    groups = [{"params": body, "lr": recipe.learning_rate}]
    if head:
        groups.append({"params": head, "lr": recipe.head_learning_rate or recipe.learning_rate})
    return torch.optim.AdamW(groups, weight_decay=recipe.weight_decay)


def _epoch_metrics(epoch: int, train: list[float], val: list[float], seconds: float, kind: str) -> dict[str, float]:
    loss_sum, steps, examples, tokens = train
    metrics = {
        "epoch": float(epoch),
        "train_loss": loss_sum / max(steps, 1),
        "examples_per_s": examples / seconds,
        "tokens_per_s": tokens / seconds,
        "epoch_seconds": seconds,
    }
    if val[1] > 0:
        metrics["val_loss"] = val[0] / val[1] if kind == "generator" else val[0] / max(val[1], 1)
        metrics["val_accuracy" if kind == "classifier" else "val_token_accuracy"] = val[2] / val[1]
    return metrics


def _save_and_report(model: Any, tokenizer: Any, recipe: Recipe, history: list[dict[str, float]], rank: int) -> None:
    """Last epoch: rank 0 saves the specialist and reports it as the run's checkpoint; the others report metrics."""
    import ray.train

    if rank != 0:
        ray.train.report(history[-1])
        return
    with tempfile.TemporaryDirectory(prefix="llm2slm-specialist-") as folder:
        save_specialist(model, tokenizer, recipe, folder, extra={"final_metrics": history[-1]})
        Path(folder, METRICS_FILE).write_text(json.dumps(history, indent=2))
        ray.train.report(history[-1], checkpoint=ray.train.Checkpoint.from_directory(folder))


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """The training function every Ray worker runs. `config`: recipe (dict), train_rows, val_rows,
    tokenizer_json (tiny bases), threads_per_worker, use_gpu."""
    import ray.train
    import ray.train.torch
    from torch.utils.data import DataLoader, DistributedSampler
    from transformers import get_linear_schedule_with_warmup

    recipe = Recipe.model_validate(config["recipe"])
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    torch.set_num_threads(int(config.get("threads_per_worker", 1)))
    torch.manual_seed(recipe.seed)
    device = ray.train.torch.get_device()

    # Model and data: each worker tokenises and trains on its own shard of the rows.
    model, tokenizer = build_model(recipe, config.get("tokenizer_json"), use_gpu=bool(config.get("use_gpu")))
    collate = make_collator(recipe, tokenizer)
    train_rows, val_rows = config["train_rows"], config["val_rows"][rank::world]
    sampler = DistributedSampler(train_rows, num_replicas=world, rank=rank, shuffle=True, seed=recipe.seed)
    per_worker_batch = max(1, recipe.batch_size // world)  # examples per step on this worker
    loader = DataLoader(train_rows, batch_size=per_worker_batch, sampler=sampler, collate_fn=collate)
    loader = ray.train.torch.prepare_data_loader(loader)  # moves batches to the worker's device
    model = ray.train.torch.prepare_model(model)  # DistributedDataParallel when world > 1
    plain = getattr(model, "module", model)

    optimizer = _optimizer(plain, recipe)
    total_steps = recipe.epochs * len(loader)  # optimizer steps
    scheduler = get_linear_schedule_with_warmup(optimizer, math.ceil(recipe.warmup_ratio * total_steps), total_steps)
    trainable = [p for p in plain.parameters() if p.requires_grad]

    history: list[dict[str, float]] = []
    for epoch in range(1, recipe.epochs + 1):
        sampler.set_epoch(epoch)
        model.train()
        loss_sum = steps = examples = tokens = 0.0
        start = time.perf_counter()
        for batch in loader:
            loss, _ = _loss(model, batch, recipe.kind)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, max_norm=1.0)
            optimizer.step()
            scheduler.step()
            loss_sum, steps = loss_sum + float(loss), steps + 1
            examples += len(batch["input_ids"])
            tokens += float(batch["attention_mask"].sum())
        seconds = time.perf_counter() - start
        train_totals = _sum_across_workers([loss_sum, steps, examples, tokens], device)
        val_start = time.perf_counter()
        val_totals = _sum_across_workers(_validate(plain, val_rows, collate, recipe.kind, device), device)
        history.append(_epoch_metrics(epoch, train_totals, val_totals, seconds, recipe.kind))
        history[-1]["val_seconds"] = time.perf_counter() - val_start
        if epoch < recipe.epochs:
            ray.train.report(history[-1])
    _save_and_report(plain, tokenizer, recipe, history, rank)


def _ensure_ray(ray_address: str | None, storage_path: Path) -> None:
    """Join the Ray cluster at `ray_address`, or start Ray in this process with a short temp folder."""
    import ray

    if ray.is_initialized():
        return
    if ray_address:
        ray.init(address=ray_address)
        return
    temp = os.environ.get("RAY_TMPDIR") or str(storage_path / "ray")
    if len(temp) > MAX_SOCKET_DIR_CHARS:
        temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    Path(temp).mkdir(parents=True, exist_ok=True)
    ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, object_store_memory=RAY_OBJECT_STORE_BYTES,
             _temp_dir=temp, log_to_driver=False)


def _tokenizer_json(recipe: Recipe, train_rows: list[dict]) -> str | None:
    """A tiny base's tokenizer, trained here once on the training texts and shipped to every worker."""
    if not recipe.is_tiny:
        return None
    from llm2slm.training.tiny import tokenizer_to_json, train_tiny_tokenizer

    return tokenizer_to_json(train_tiny_tokenizer(training_texts(train_rows), recipe.tiny_vocab_size))


def fine_tune(recipe: Recipe, task_dir: Path, out_dir: Path, *, num_workers: int, use_gpu: bool,
              storage_path: Path, ray_address: str | None = None, max_train_calls: int | None = None) -> TrainResult:
    """Train `recipe` on the task's train split with Ray Train and copy the specialist to `out_dir`."""
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    started = time.perf_counter()
    train_rows = sample_rows(read_rows(Path(task_dir) / "train.jsonl"), max_train_calls, recipe.seed)
    val_rows = sample_rows(read_rows(Path(task_dir) / "val.jsonl"), recipe.max_val_examples, recipe.seed)
    if not train_rows:
        raise ValueError(f"{task_dir}: the train split is empty")
    storage_path = Path(storage_path).resolve()
    storage_path.mkdir(parents=True, exist_ok=True)
    _ensure_ray(ray_address, storage_path)
    threads = max(1, (os.cpu_count() or 1) // num_workers)  # torch threads per worker
    run_name = f"{Path(task_dir).name}-{time.strftime('%Y%m%d-%H%M%S')}"
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"recipe": recipe.model_dump(mode="json"), "train_rows": train_rows,
                           "val_rows": val_rows, "tokenizer_json": _tokenizer_json(recipe, train_rows),
                           "threads_per_worker": threads, "use_gpu": use_gpu},
        scaling_config=ScalingConfig(num_workers=num_workers, use_gpu=use_gpu,
                                     resources_per_worker=None if use_gpu else {"CPU": 1}),
        run_config=RunConfig(name=run_name, storage_path=str(storage_path)),
    )
    result = trainer.fit()
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    with result.checkpoint.as_directory() as folder:
        shutil.copytree(folder, out_dir)
    if not (out_dir / SPECIALIST_FILE).is_file():
        raise RuntimeError(f"the training run {run_name} saved no specialist")
    history = json.loads((out_dir / METRICS_FILE).read_text())
    last = history[-1]
    return TrainResult(model_dir=out_dir, metrics={**last, "wall_s": time.perf_counter() - started},
                       history=history, wall_seconds=time.perf_counter() - started,
                       train_seconds=sum(h["epoch_seconds"] for h in history),
                       examples_per_s=last["examples_per_s"], tokens_per_s=last["tokens_per_s"],
                       n_train=len(train_rows), n_val=len(val_rows), run_name=run_name)
