"""Fine-tuning with Ray Train: one training function run by every worker, and `fine_tune` that launches it.

Data parallel: each worker holds a full model copy (DistributedDataParallel via `prepare_model`), reads its own
shard of the training rows (a DistributedSampler), and gradients are averaged across workers every step. Every
`checkpoint_every_steps` optimizer steps rank 0 reports a resumable checkpoint (`llm2slm.training.checkpoint`)
to the run's storage; when a worker dies, Ray Train restarts the worker group (up to `max_failures` times) and
the training function resumes from the latest checkpoint. At the end rank 0 saves the specialist and reports it
as the run's last checkpoint; `fine_tune` copies it to `out_dir`. Rank 0 also sends per-step loss, learning rate
and tokens/s to MLflow when given a run. This works the same on a laptop (Ray started in process) and on a Ray
cluster reached through `ray_address` (the configuration's, from RAY_ADDRESS): the workers spread over its nodes
(`placement_strategy`), train on GPUs when it has them (`use_gpu="auto"`), and checkpoint to storage every node
reaches (checked before the run: `llm2slm.training.cluster`).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel

from llm2slm.common.finetune_config import PlacementStrategy
from llm2slm.training.checkpoint import TrainProgress, restore_train_state, save_train_state
from llm2slm.training.answer_format import tool_calls
from llm2slm.training.budget import BudgetReport, apply_token_budget, mixed_order
from llm2slm.training.cluster import (check_storage_on_every_node, cluster_gpus, is_uri, resolve_use_gpu,
                                      storage_location, worker_nodes)
from llm2slm.training.data import example_tokens, make_collator, read_rows, sample_rows
from llm2slm.training.models import SPECIALIST_FILE, build_model, resolve_base, save_specialist
from llm2slm.training.prompts import training_texts
from llm2slm.training.recipe import Recipe
from llm2slm.training.steps import (epoch_metrics, make_optimizer, make_scheduler, sum_across_workers, train_step,
                                    validate)
from llm2slm.training.step_log import ProgressRelay, StepLogger

log = logging.getLogger("llm2slm.finetune")
METRICS_FILE = "training_metrics.json"
RAY_OBJECT_STORE_BYTES = 256 * 1024**2  # object store of an in-process Ray, bytes
MAX_SOCKET_DIR_CHARS = 40  # Ray appends ~62 chars (session_<time>_<pid>/sockets/plasma_store); a socket path must stay under 107 bytes
CHECKPOINTS_KEPT = 2  # resumable checkpoints kept in the run's storage (the final specialist counts as one)

StepHook = Callable[[int, TrainProgress], None]  # (worker rank, progress) after each optimizer step


def _no_step_hook(rank: int, progress: TrainProgress) -> None:  # noqa: ARG001
    """The pipeline's step hook: nothing (the tests hand in one that kills a worker)."""


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
    steps: int  # optimizer steps of the whole run
    attempt_start_steps: list[int]  # the step each attempt started from: [0] unless a worker failure was resumed
    attempt_nodes: list[list[str]] = []  # per attempt, the Ray node id each worker (by rank) ran on
    use_gpu: bool = False  # whether the workers trained on GPUs (use_gpu "auto" resolved against the cluster)
    rows_skipped: int = 0  # span tagger: training rows whose JSON values could not be found in the request
    budget: BudgetReport | None = None  # generator: what the token budget kept of the train calls


def _shard_loader(rows: list[dict], collate: Any, recipe: Recipe, rank: int, world: int) -> tuple[Any, Any]:
    """(this worker's DataLoader, its DistributedSampler): batch_size / world examples per step per worker."""
    import ray.train.torch
    from torch.utils.data import DataLoader, DistributedSampler

    sampler = DistributedSampler(rows, num_replicas=world, rank=rank, shuffle=True, seed=recipe.seed)
    per_worker_batch = max(1, recipe.batch_size // world)  # examples per step on this worker
    loader = DataLoader(rows, batch_size=per_worker_batch, sampler=sampler, collate_fn=collate)
    return ray.train.torch.prepare_data_loader(loader), sampler  # batches move to the worker's device


def _report(metrics: dict[str, float], rank: int, checkpoint_state: tuple | None = None) -> None:
    """Report metrics from every worker (a barrier); with `checkpoint_state` (model, optimizer, scheduler,
    progress) rank 0 also saves a resumable checkpoint to the run's storage."""
    import ray.train

    if checkpoint_state is None or rank != 0:
        ray.train.report(metrics)
        return
    progress = checkpoint_state[3]
    with tempfile.TemporaryDirectory(prefix="llm2slm-checkpoint-") as folder:
        save_train_state(folder, *checkpoint_state)
        ray.train.report({**metrics, "step": float(progress.step)},
                         checkpoint=ray.train.Checkpoint.from_directory(folder),
                         checkpoint_dir_name=f"step-{progress.step:07d}-attempt-{len(progress.attempt_start_steps)}")


def _save_and_report(model: Any, tokenizer: Any, recipe: Recipe, progress: TrainProgress, rank: int,
                     extra_meta: dict[str, Any]) -> None:
    """Last epoch: rank 0 saves the specialist and reports it as the run's checkpoint; the others report metrics."""
    import ray.train

    if rank != 0:
        ray.train.report(progress.history[-1])
        return
    with tempfile.TemporaryDirectory(prefix="llm2slm-specialist-") as folder:
        extra = {**extra_meta, "final_metrics": progress.history[-1], "steps": progress.step,
                 "attempt_start_steps": progress.attempt_start_steps, "attempt_nodes": progress.attempt_nodes}
        save_specialist(model, tokenizer, recipe, folder, extra=extra)
        Path(folder, METRICS_FILE).write_text(json.dumps(progress.history, indent=2))
        ray.train.report(progress.history[-1], checkpoint=ray.train.Checkpoint.from_directory(folder),
                         checkpoint_dir_name="specialist")


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """The training function every Ray worker runs. `config`: recipe (dict), train_rows, val_rows, tokenizer_json
    (tiny bases), threads_per_worker, use_gpu, extra_meta (for specialist.json), mlflow, step_hook (see fine_tune)."""
    import ray.train
    import ray.train.torch

    recipe = Recipe.model_validate(config["recipe"])
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    torch.set_num_threads(int(config.get("threads_per_worker", 1)))
    torch.manual_seed(recipe.seed)
    device = ray.train.torch.get_device()

    # Model and data: each worker tokenises and trains on its own shard of the rows.
    model, tokenizer = build_model(recipe, config.get("tokenizer_json"), use_gpu=bool(config.get("use_gpu")))
    collate = make_collator(recipe, tokenizer)
    loader, sampler = _shard_loader(config["train_rows"], collate, recipe, rank, world)
    val_rows = config["val_rows"][rank::world]
    model = ray.train.torch.prepare_model(model, move_to_device=recipe.quantization == "none")  # DDP if world > 1
    plain = getattr(model, "module", model)
    plain.train()  # from_pretrained returns a model in eval mode: dropout on from the first step
    optimizer = make_optimizer(plain, recipe)
    steps_per_epoch, every = len(loader), recipe.checkpoint_every_steps  # optimizer steps
    scheduler = make_scheduler(optimizer, recipe, steps_per_epoch)
    trainable = [p for p in plain.parameters() if p.requires_grad]

    # Resume from the run's latest checkpoint after a worker failure (step 0 on the first attempt).
    progress = restore_train_state(ray.train.get_checkpoint(), plain, optimizer, scheduler, worker_nodes(world))
    step_hook: StepHook = config.get("step_hook") or _no_step_hook
    steps_log = StepLogger.open(config.get("mlflow"), rank, world, config.get("progress"),
                                recipe.epochs * steps_per_epoch, recipe.batch_size)
    for epoch in range(progress.step // steps_per_epoch + 1, recipe.epochs + 1):
        sampler.set_epoch(epoch)
        done_before = progress.step - (epoch - 1) * steps_per_epoch  # steps of this epoch done before a resume
        totals = [0.0, 0.0, 0.0, 0.0]  # loss sum, steps, examples, tokens on this worker
        start = last = time.perf_counter()
        for batch in itertools.islice(loader, done_before, None):
            loss = train_step(model, batch, optimizer, scheduler, trainable, recipe.kind, recipe.label_smoothing,
                              recipe.micro_batch_size)
            progress.step += 1
            tokens = float(batch["attention_mask"].sum())
            totals = [totals[0] + loss, totals[1] + 1, totals[2] + len(batch["input_ids"]), totals[3] + tokens]
            steps_log.add(progress.step, loss, scheduler.get_last_lr()[0], tokens, time.perf_counter() - last)
            last = time.perf_counter()
            step_hook(rank, progress)
            if every and progress.step % every == 0 and progress.step % steps_per_epoch:
                steps_log.flush()  # the steps up to a checkpoint reach MLflow before it is reported
                _report({"epoch": float(epoch)}, rank, (plain, optimizer, scheduler, progress))
        seconds = time.perf_counter() - start
        train_totals = sum_across_workers(totals, device)
        val_start = time.perf_counter()
        val_totals = sum_across_workers(validate(plain, val_rows, collate, recipe.kind, device), device)
        progress.history.append(epoch_metrics(epoch, train_totals, val_totals, seconds, recipe.kind, device))
        progress.history[-1]["val_seconds"] = time.perf_counter() - val_start
        steps_log.flush()
        if epoch < recipe.epochs:
            due = bool(every) and progress.step % every == 0
            _report(progress.history[-1], rank, (plain, optimizer, scheduler, progress) if due else None)
    steps_log.close()
    _save_and_report(plain, tokenizer, recipe, progress, rank, config.get("extra_meta") or {})


def _ensure_ray(ray_address: str | None, temp_dir: Path) -> None:
    """Join the Ray cluster at `ray_address`, or start Ray in this process with its files in `temp_dir` (a short
    folder in /tmp instead when that path is too long for Ray's sockets)."""
    import ray

    if ray.is_initialized():
        return
    if ray_address:
        ray.init(address=ray_address)
        return
    temp = str(temp_dir)
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

    texts = training_texts(train_rows, recipe.decoding)  # answers in the layout the generator is trained to write
    return tokenizer_to_json(train_tiny_tokenizer(texts, recipe.tiny_vocab_size))


def _prepare_rows(recipe: Recipe, train_rows: list[dict], val_rows: list[dict]) -> tuple[list, list, dict]:
    """Span tagger: rows with their value spans (rows whose values are not in the request are left out) and
    how the LLM writes its JSON; other kinds: the rows as they are. Returns (train, val, extra specialist.json)."""
    if recipe.kind != "span_tagger":
        return train_rows, val_rows, {}
    from llm2slm.training.spans import answer_style, tag_rows

    fields = recipe.fields or []
    tagged, skipped = tag_rows(train_rows, fields)
    if not tagged:
        raise ValueError(f"no training answer is a JSON object whose values appear in the request ({skipped} rows)")
    style = answer_style([str(r.get("answer", "")) for r in train_rows], fields)
    return tagged, tag_rows(val_rows, fields)[0], {"answer_style": style.model_dump(), "rows_skipped": skipped}


def _generator_budget(recipe: Recipe, tokenizer_json: str | None, rows: list[dict],
                      max_tokens: int | None) -> tuple[list[dict], BudgetReport]:
    """The train rows a generator's token budget keeps, counted with the tokenizer the workers will use."""
    if tokenizer_json is not None:
        from llm2slm.training.tiny import tokenizer_from_json

        tokenizer = tokenizer_from_json(tokenizer_json)
    else:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(resolve_base(recipe.base_model))
    rows = mixed_order(rows, ["tool_call" if tool_calls(r["answer"]) is not None else "text" for r in rows])
    tokens = example_tokens(tokenizer, rows, recipe.max_length, recipe.max_new_tokens, recipe.decoding)
    kept, report = apply_token_budget(rows, tokens, recipe.epochs, max_tokens)
    log.info("generator budget: %s", report.describe())
    return kept, report


def _training_rows(recipe: Recipe, task_dir: Path, max_calls: int | None, max_tokens: int | None
                   ) -> tuple[list[dict], list[dict], dict, str | None, BudgetReport | None]:
    """(train rows, val rows, extra specialist.json, a tiny base's tokenizer, a generator's budget report): the
    splits sampled with the recipe's seed, prepared for the kind, and cut to a generator's token budget."""
    train_rows = sample_rows(read_rows(task_dir / "train.jsonl"), max_calls, recipe.seed)
    val_rows = sample_rows(read_rows(task_dir / "val.jsonl"), recipe.max_val_examples, recipe.seed)
    if not train_rows:
        raise ValueError(f"{task_dir}: the train split is empty")
    train_rows, val_rows, extra_meta = _prepare_rows(recipe, train_rows, val_rows)
    tokenizer_json = _tokenizer_json(recipe, train_rows)
    budget = None
    if recipe.kind == "generator":
        if recipe.decoding == "tools":  # the grammar allows no more calls in one answer than the LLM ever made
            extra_meta["max_tool_calls"] = max(len(tool_calls(r["answer"]) or []) for r in train_rows) or None
        train_rows, budget = _generator_budget(recipe, tokenizer_json, train_rows, max_tokens)
        extra_meta["budget"] = budget.model_dump()
    return train_rows, val_rows, extra_meta, tokenizer_json, budget


def _start_ray(ray_address: str | None, storage: str, temp_dir: Path, use_gpu: bool | Literal["auto"],
               num_workers: int) -> bool:
    """Join or start Ray; on a cluster, check that every node sees the storage. Returns whether to use GPUs."""
    _ensure_ray(ray_address, temp_dir)
    if ray_address:
        check_storage_on_every_node(storage)
    gpus, why = resolve_use_gpu(use_gpu, cluster_gpus(), num_workers)
    log.info("training on %s: %s", "GPUs" if gpus else "CPU", why)
    return gpus


def _trainer(config: dict[str, Any], num_workers: int, use_gpu: bool, placement_strategy: str, storage: str,
             run_name: str, max_failures: int) -> Any:
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    return TorchTrainer(
        train_loop_per_worker, train_loop_config=config,
        scaling_config=ScalingConfig(num_workers=num_workers, use_gpu=use_gpu, placement_strategy=placement_strategy,
                                     resources_per_worker=None if use_gpu else {"CPU": 1}),
        run_config=RunConfig(name=run_name, storage_path=storage,
                             failure_config=FailureConfig(max_failures=max_failures),
                             checkpoint_config=CheckpointConfig(num_to_keep=CHECKPOINTS_KEPT)))


def _copy_specialist(checkpoint: Any, out_dir: Path, run_name: str) -> tuple[list[dict[str, float]], dict[str, Any]]:
    """Copy the run's final checkpoint (the specialist) to `out_dir`; returns (per-epoch history, specialist.json)."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    with checkpoint.as_directory() as folder:
        shutil.copytree(folder, out_dir)
    if not (out_dir / SPECIALIST_FILE).is_file():
        raise RuntimeError(f"the training run {run_name} saved no specialist")
    return json.loads((out_dir / METRICS_FILE).read_text()), json.loads((out_dir / SPECIALIST_FILE).read_text())


def fine_tune(recipe: Recipe, task_dir: Path, out_dir: Path, *, num_workers: int,
              use_gpu: bool | Literal["auto"] = "auto", storage_path: Path | str, ray_address: str | None = None,
              max_train_calls: int | None = None, max_failures: int = 1, mlflow_run: dict[str, str] | None = None,
              run_name: str | None = None, ray_temp_dir: Path | None = None, step_hook: StepHook | None = None,
              threads_per_worker: int | None = None, max_train_tokens: int | None = None,
              placement_strategy: PlacementStrategy = "SPREAD") -> TrainResult:
    """Train `recipe` on the task's train split with Ray Train and copy the specialist to `out_dir`.

    use_gpu: True/False, or "auto": GPUs when the Ray cluster has one per worker. storage_path: Ray Train's
    storage (a path, every node's on a cluster, or a URI such as s3://bucket/prefix). placement_strategy: how
    Ray places the workers over the nodes. max_failures: worker-group restarts from the latest checkpoint before
    the run fails. mlflow_run: {tracking_uri, run_id} of an existing run that rank 0 logs per-step metrics to.
    run_name: the run's folder in the storage (re-using the name of an unfinished run resumes it; default: a new
    unique name). ray_address: a Ray cluster to join (`Config.ray_address`); None starts Ray in this process, its
    files in `ray_temp_dir` (`Config.paths.ray_dir`; default `<storage_path>/ray`, or a temporary folder for a
    URI). step_hook: called in every worker after each optimizer step with (rank, progress); the pipeline passes
    none, the tests kill a worker with one (`llm2slm.testing.faults`). threads_per_worker: torch threads in each
    worker (default: this machine's cores / num_workers)."""
    started = time.perf_counter()
    train_rows, val_rows, extra_meta, tokenizer_json, budget = _training_rows(recipe, Path(task_dir),
                                                                              max_train_calls, max_train_tokens)
    storage = storage_location(storage_path)
    default_temp = Path(tempfile.gettempdir()) if is_uri(storage) else Path(storage) / "ray"
    gpus = _start_ray(ray_address, storage, Path(ray_temp_dir) if ray_temp_dir else default_temp, use_gpu,
                      num_workers)
    threads = threads_per_worker or max(1, (os.cpu_count() or 1) // num_workers)  # torch threads per worker
    run_name = run_name or f"{Path(task_dir).name}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    log.info("run %s: checkpoints in %s/%s", run_name, storage, run_name)
    relay = ProgressRelay(f"finetune {Path(task_dir).name} {Path(out_dir).name}")  # rank 0's progress lines
    config = {"recipe": recipe.model_dump(mode="json"), "train_rows": train_rows, "val_rows": val_rows,
              "tokenizer_json": tokenizer_json, "threads_per_worker": threads, "use_gpu": gpus,
              "extra_meta": extra_meta, "mlflow": mlflow_run, "step_hook": step_hook, "progress": relay.handle}
    trainer = _trainer(config, num_workers, gpus, placement_strategy, storage, run_name, max_failures)
    with relay:
        result = trainer.fit()
    history, meta = _copy_specialist(result.checkpoint, Path(out_dir), run_name)
    last = history[-1]
    return TrainResult(model_dir=Path(out_dir), metrics={**last, "wall_s": time.perf_counter() - started},
                       history=history, wall_seconds=time.perf_counter() - started,
                       train_seconds=sum(h["epoch_seconds"] for h in history),
                       examples_per_s=last["examples_per_s"], tokens_per_s=last["tokens_per_s"],
                       n_train=len(train_rows), n_val=len(val_rows), run_name=run_name, steps=meta["steps"],
                       attempt_start_steps=meta["attempt_start_steps"], attempt_nodes=meta.get("attempt_nodes", []),
                       use_gpu=gpus, rows_skipped=extra_meta.get("rows_skipped", 0), budget=budget)
