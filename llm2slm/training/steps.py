"""One optimizer step, one validation pass, and the figures of an epoch: the pieces `train.train_loop_per_worker`
runs, the same for every kind (classifier, span tagger, generator) and on every worker.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import torch

from llm2slm.training.data import IGNORE
from llm2slm.training.recipe import Recipe

GIB = 1024**3


def generator_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor,
                                                                                 torch.Tensor]:
    """(mean loss over the answer tokens, logits, targets): logits[:, i] predicts targets[:, i].

    Batches are left-padded (`data.GeneratorCollator`), so every answer token sits in the last `keep - 1`
    positions; the output layer runs only there (`logits_to_keep`), not over the whole prompt."""
    labels = batch["labels"]
    scored = labels != IGNORE
    width = labels.shape[1]  # tokens per row
    first = int(scored.float().argmax(1)[scored.any(1)].min()) if scored.any() else width - 1
    keep = width - first + 1  # positions whose logits are needed: the one before the first answer token onwards
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    logits = model(**inputs, logits_to_keep=keep).logits[:, :-1]  # rows x (keep - 1) x vocabulary
    targets = labels[:, width - keep + 1:]
    loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=IGNORE)
    return loss, logits, targets


def loss_of(model: torch.nn.Module, batch: dict[str, torch.Tensor], kind: str,
          label_smoothing: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean loss over the batch's scored units, logits); `label_smoothing` applies to a classifier's training."""
    if kind == "generator":
        loss, logits, _ = generator_loss(model, batch)
        return loss, logits
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    logits = model(**inputs)  # classifier: [batch, labels]; span tagger: [batch, tokens, tags]
    return torch.nn.functional.cross_entropy(logits.flatten(0, -2), batch["labels"].flatten(), ignore_index=IGNORE,
                                             label_smoothing=label_smoothing if kind == "classifier" else 0.0), logits


def sum_across_workers(values: list[float], device: torch.device) -> list[float]:
    """Element-wise sum of `values` over all workers (identity with one worker)."""
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.all_reduce(tensor)
    return tensor.tolist()


@torch.no_grad()
def validate(model: torch.nn.Module, rows: list[dict], collate: Any, kind: str, device: torch.device) -> list[float]:
    """[loss sum, scored units, correct units] on this worker's validation rows; units are examples
    (classifier: argmax = label) or tokens (span tagger: tags; generator: teacher-forced answer tokens)."""
    model.eval()
    loss_sum = units = correct = 0.0
    chunk = 8 if kind == "generator" else 64  # rows per forward pass (a generator's logits: 49,152 per token)
    for start in range(0, len(rows), chunk):
        batch = {k: v.to(device) for k, v in collate(rows[start : start + chunk]).items()}
        if kind == "generator":
            loss, logits, labels = generator_loss(model, batch)
        else:
            loss, logits = loss_of(model, batch, kind)
            labels = batch["labels"]
        if kind == "classifier":
            scored = labels != IGNORE
            loss_sum += float(loss) * int(scored.sum()) if scored.any() else 0.0
            units += len(labels)  # answers outside the label set count as wrong
            correct += float((logits.argmax(-1) == labels).sum())
            continue
        scored = labels != IGNORE
        loss_sum += float(loss) * int(scored.sum()) if scored.any() else 0.0
        units += int(scored.sum())
        correct += float(((logits.argmax(-1) == labels) & scored).sum())
    model.train()
    return [loss_sum, units, correct]


def make_optimizer(model: torch.nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    """AdamW over the trainable parameters; an encoder's head may get its own (higher) rate."""
    head, body = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (head if name.startswith("head.") else body).append(param)
    groups = [{"params": body, "lr": recipe.learning_rate}]
    if head:
        groups.append({"params": head, "lr": recipe.head_learning_rate or recipe.learning_rate})
    return torch.optim.AdamW(groups, weight_decay=recipe.weight_decay)


def micro_batches(batch: dict[str, torch.Tensor], rows: int | None) -> list[dict[str, torch.Tensor]]:
    """The batch cut into pieces of at most `rows` examples (None: the whole batch). A left-padded generator piece
    loses the padding columns none of its rows needs, so a piece of short rows costs less."""
    size = len(batch["input_ids"])
    if not rows or rows >= size:
        return [batch]
    pieces = []
    for start in range(0, size, rows):
        piece = {k: v[start:start + rows] for k, v in batch.items()}
        if "position_ids" in piece:  # a generator batch: padding on the left
            used = piece["attention_mask"].sum(0) > 0
            first = int(used.float().argmax())
            piece = {k: v[:, first:] for k, v in piece.items()}
        pieces.append(piece)
    return pieces


def _units(piece: dict[str, torch.Tensor], kind: str) -> int:
    """What a piece's mean loss is over: scored tokens (generator, span tagger) or examples (classifier)."""
    labels = piece["labels"]
    return len(labels) if kind == "classifier" else max(1, int((labels != IGNORE).sum()))


def train_step(model: torch.nn.Module, batch: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer,
               scheduler: Any, trainable: list[torch.nn.Parameter], kind: str, label_smoothing: float = 0.0,
               micro_batch: int | None = None) -> float:
    """One optimizer step (gradients averaged across workers by DDP); returns the batch's loss.

    With `micro_batch`, the batch goes through forward and backward `micro_batch` examples at a time and the
    gradients add up (each piece weighted by its share of the scored units), the same step in less memory: a
    generator's activations grow with examples x tokens. DDP averages across workers once, on the last piece."""
    pieces = micro_batches(batch, micro_batch)
    total = sum(_units(p, kind) for p in pieces)
    optimizer.zero_grad(set_to_none=True)
    loss_value = 0.0
    for i, piece in enumerate(pieces):
        weight = _units(piece, kind) / total
        syncing = i == len(pieces) - 1 or not hasattr(model, "no_sync")
        with contextlib.nullcontext() if syncing else model.no_sync():
            loss, _ = loss_of(model, piece, kind, label_smoothing)
            (loss * weight).backward()
        loss_value += loss.detach().item() * weight
    torch.nn.utils.clip_grad_norm_(trainable, max_norm=1.0)
    optimizer.step()
    scheduler.step()
    return loss_value


def epoch_metrics(epoch: int, train: list[float], val: list[float], seconds: float, kind: str,
                   device: torch.device) -> dict[str, float]:
    loss_sum, steps, examples, tokens = train
    metrics = {
        "epoch": float(epoch),
        "train_loss": loss_sum / max(steps, 1),
        "examples_per_s": examples / seconds,
        "tokens_per_s": tokens / seconds,
        "epoch_seconds": seconds,
    }
    if val[1] > 0:
        metrics["val_loss"] = val[0] / val[1]
        metrics["val_accuracy" if kind == "classifier" else "val_token_accuracy"] = val[2] / val[1]
    if device.type == "cuda":
        metrics["gpu_peak_allocated_gib"] = torch.cuda.max_memory_allocated(device) / GIB
    return metrics


def make_scheduler(optimizer: torch.optim.Optimizer, recipe: Recipe, steps_per_epoch: int) -> Any:
    """Linear warm-up over `warmup_ratio` of the optimizer steps, then linear decay to zero at the last step."""
    from transformers import get_linear_schedule_with_warmup

    total = recipe.epochs * steps_per_epoch  # optimizer steps
    return get_linear_schedule_with_warmup(optimizer, math.ceil(recipe.warmup_ratio * total), total)
