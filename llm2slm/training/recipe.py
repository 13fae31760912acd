"""A fine-tuning recipe: everything that decides how one specialist is trained, validated by pydantic.

`recipe_for(candidate, task_stats)` picks defaults that train on a 2-core CPU in minutes for the offline
candidates (MiniLM classifier, tiny generator) and standard LoRA settings for real hub models.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from llm2slm.common.schema import estimate_tokens
from llm2slm.common.stats import percentile_ceil
from llm2slm.training.catalogue import TINY_PREFIX, Candidate
from llm2slm.training.prompts import chat_messages, classifier_input_text

ENCODER_TARGETS = ["query", "key", "value", "dense"]  # BERT linear layers (MiniLM): classifier and span tagger
ATTENTION_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")
GENERATOR_VAL_EXAMPLES = 32  # a pretrained generator's per-epoch validation: teacher-forced, ~0.5 s a call on 2 cores
GENERATOR_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class Recipe(BaseModel):
    """How to fine-tune one candidate on one task."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["classifier", "span_tagger", "generator"]
    base_model: str = Field(min_length=1, description="hub id, local path, 'all-MiniLM-L6-v2' or 'tiny:llama'")
    method: Literal["lora", "full"] = "lora"
    lora_r: int = Field(8, ge=1, le=256)
    lora_alpha: float = Field(16.0, gt=0)
    lora_dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: list[str] | None = Field(None, description="LoRA targets; None = the default for the kind")
    epochs: int = Field(3, ge=1, le=1000)
    learning_rate: float = Field(1e-3, gt=0, le=1)
    head_learning_rate: float | None = Field(None, gt=0, le=10, description="classifier head; None = learning_rate")
    weight_decay: float = Field(0.01, ge=0, lt=1)
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="classifier: target share spread over all labels")
    warmup_ratio: float = Field(0.06, ge=0, lt=1, description="share of optimizer steps with a rising rate")
    batch_size: int = Field(32, ge=1, description="examples per optimizer step, summed over all workers")
    micro_batch_size: int | None = Field(
        None, ge=1, description="examples per forward and backward on a worker (gradients add up); None: the "
                                "worker's whole share of the batch")
    max_length: int = Field(64, ge=8, le=131072, description="tokens per example (prompt + answer)")
    max_new_tokens: int = Field(96, ge=1, le=8192, description="generator: longest answer, tokens")
    tiny_vocab_size: int = Field(4000, ge=300, le=65536, description="tiny:* bases: BPE vocabulary, tokens")
    max_val_examples: int = Field(1000, ge=0, description="validation examples scored each epoch")
    seed: int = 13
    labels: list[str] | None = Field(None, description="classifier: the closed label set, in head order")
    fields: list[str] | None = Field(None, description="span_tagger: the JSON keys, in the order the LLM writes them")
    checkpoint_every_steps: int = Field(100, ge=0, description="optimizer steps between resumable checkpoints; 0: none")
    merge_weights: bool = Field(False, description="also save the LoRA adapter merged into full weights")
    quantization: Literal["none", "4bit"] = Field("none", description="4bit: QLoRA (LoRA generator on a GPU)")
    decoding: Literal["none", "json", "tools"] = Field(
        "none", description="generator: constrained decoding (training.answer_format, serving.constrained)")

    @model_validator(mode="after")
    def _consistent(self) -> "Recipe":
        if self.kind == "classifier":
            if not self.labels or len(self.labels) < 2:
                raise ValueError("labels: a classifier needs at least 2 labels")
            if len(set(self.labels)) != len(self.labels):
                raise ValueError("labels: must be distinct")
        elif self.labels is not None:
            raise ValueError("labels: only a classifier has labels")
        if self.label_smoothing and self.kind != "classifier":
            raise ValueError(f"label_smoothing: only a classifier smooths its labels, not a {self.kind}")
        if self.kind == "span_tagger":
            if not self.fields or len(set(self.fields)) != len(self.fields):
                raise ValueError("fields: a span_tagger needs its distinct JSON keys")
        elif self.fields is not None:
            raise ValueError("fields: only a span_tagger has fields")
        if self.kind != "generator" and self.base_model.startswith(TINY_PREFIX):
            raise ValueError(f"base_model: tiny:* bases are generators; a {self.kind} needs an encoder")
        if self.quantization == "4bit" and (self.kind != "generator" or self.method != "lora"):
            raise ValueError("quantization: 4bit (QLoRA) applies to a generator trained with method 'lora'")
        if self.base_model.startswith(TINY_PREFIX) and self.method != "full":
            raise ValueError("method: a tiny:* base has no pretrained weights, so it must be 'full'")
        if self.decoding != "none" and self.kind != "generator":
            raise ValueError(f"decoding: only a generator decodes under constraints, not a {self.kind}")
        if self.kind == "generator" and self.max_new_tokens >= self.max_length:
            raise ValueError("max_new_tokens: must be below max_length, which also holds the prompt")
        return self

    @property
    def lora_targets(self) -> list[str]:
        if self.target_modules:
            return list(self.target_modules)
        return GENERATOR_TARGETS if self.kind == "generator" else ENCODER_TARGETS

    @property
    def is_tiny(self) -> bool:
        return self.base_model.startswith(TINY_PREFIX)


class TaskStats(BaseModel):
    """What a recipe needs to know about a task's training split."""

    model_config = ConfigDict(extra="ignore")

    n_train: int = Field(ge=1, description="training examples")
    labels: list[str] | None = Field(None, description="distinct answers, most frequent first")
    input_tokens_p95: int = Field(32, ge=1, description="95th percentile of the classifier input, tokens")
    prompt_tokens_p95: int = Field(128, ge=1, description="95th percentile of the rendered prompt, tokens")
    answer_tokens_max: int = Field(32, ge=1, description="longest answer, tokens")
    json_fields: list[str] | None = Field(None, description="keys of the JSON-object answers, in the LLM's order")
    decoding: Literal["none", "json", "tools"] = Field(
        "none", description="tools when most requests offer tools, json when most answers are JSON objects")


def task_stats_from_rows(rows: list[Mapping[str, Any]], max_labels: int = 400) -> TaskStats:
    """Stats from task rows ({messages, tools, answer}); token counts are estimated from characters."""
    from llm2slm.training.spans import field_order

    answers = Counter(str(r.get("answer", "")) for r in rows)
    labels = [a for a, _ in answers.most_common()] if 2 <= len(answers) <= max_labels else None

    def tokens(text: str) -> int:  # estimated tokens of a text, at least one
        return max(1, estimate_tokens(len(text)))

    inputs = [tokens(classifier_input_text(r.get("messages") or [])) for r in rows]
    prompts = [
        tokens(" ".join(t["content"] for t in chat_messages(r.get("messages") or [], r.get("tools")))) + 8
        for r in rows
    ]
    offered = sum(bool(r.get("tools")) for r in rows)
    json_answers = sum(_is_json_object(str(a)) * n for a, n in answers.items())
    decoding = "tools" if offered * 2 > len(rows) else "json" if json_answers * 2 > len(rows) else "none"
    return TaskStats(
        decoding=decoding,
        n_train=len(rows),
        labels=labels,
        input_tokens_p95=percentile_ceil(inputs, 95, empty=1),
        prompt_tokens_p95=percentile_ceil(prompts, 95, empty=1),
        answer_tokens_max=max(tokens(a) for a in answers) if answers else 1,
        json_fields=field_order(str(r.get("answer", "")) for r in rows),
    )


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except json.JSONDecodeError:
        return False


def task_stats_from_dir(task_dir: Path | str) -> TaskStats:
    """Stats of `<task_dir>/train.jsonl`."""
    with open(Path(task_dir) / "train.jsonl", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    if not rows:
        raise ValueError(f"{task_dir}/train.jsonl holds no examples")
    return task_stats_from_rows(rows)


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def _epochs_for(n_train: int, example_passes: int, low: int, high: int) -> int:
    """Epochs so that about `example_passes` examples are seen in all (small tasks get more epochs)."""
    return _clamp(math.ceil(example_passes / max(1, n_train)), low, high)


def recipe_for(candidate: Candidate, task_stats: TaskStats | Mapping[str, Any], **overrides: Any) -> Recipe:
    """A recipe with defaults for this candidate and task; `overrides` replace any field."""
    stats = task_stats if isinstance(task_stats, TaskStats) else TaskStats.model_validate(task_stats)
    fields: dict[str, Any] = {"kind": candidate.kind, "base_model": candidate.base, "method": candidate.method}
    if candidate.kind == "classifier":
        if not stats.labels:
            raise ValueError("labels: the task has no closed label set, so it cannot use a classifier")
        fields.update(
            labels=list(stats.labels),
            # rank 16 and label smoothing 0.1: on the sample's BANKING77 task (77 labels, 4,748 train calls) they
            # took held-out agreement from 89.4% (rank 8, no smoothing) to 90.2%; 5,426 train calls gave 90.9%
            lora_r=16, lora_alpha=32.0, lora_dropout=0.0, label_smoothing=0.1,
            # ~24k example passes (at least 3 epochs): 7-9 min on 2 CPU cores at 50-60 examples/s (MiniLM,
            # LoRA, 2 workers)
            epochs=_epochs_for(stats.n_train, 24_000, 3, 30),
            learning_rate=1e-3, head_learning_rate=1e-2, batch_size=32,
            max_length=_clamp(stats.input_tokens_p95 + 2, 16, min(256, candidate.context_length)),
        )
    elif candidate.kind == "span_tagger":
        if not stats.json_fields:
            raise ValueError("fields: the task's answers are not JSON objects with keys, which a span tagger needs")
        fields.update(
            fields=list(stats.json_fields),
            lora_r=8, lora_alpha=16.0, lora_dropout=0.0,
            # ~16k example passes (at least 4 epochs): token tagging needs more passes than one label per call
            epochs=_epochs_for(stats.n_train, 16_000, 4, 40),
            learning_rate=1e-3, head_learning_rate=1e-2, batch_size=32,
            # batches pad to their longest row, so a generous cap costs little and keeps long requests whole
            max_length=_clamp(2 * stats.input_tokens_p95 + 8, 32, min(256, candidate.context_length)),
        )
    elif candidate.base.startswith(TINY_PREFIX):
        answer = _clamp(stats.answer_tokens_max + 8, 16, 256)
        fields.update(
            # random init: full fine-tuning with a high rate and many passes over the data
            epochs=_epochs_for(stats.n_train, 4_000, 2, 40),
            learning_rate=3e-3, batch_size=16, warmup_ratio=0.1,
            decoding=stats.decoding,
            max_new_tokens=answer,
            max_length=_clamp(stats.prompt_tokens_p95 + answer, answer + 32, candidate.context_length),
        )
    else:
        # the estimate counts 4 characters a token; JSON tool calls take ~2.9 in SmolLM2's vocabulary (the demo's
        # movies agent: its longest call is 83 tokens, estimated 63), and an answer cut before its grammar ends is
        # invalid: room for 1.5 times the estimate
        answer = _clamp(math.ceil(1.5 * stats.answer_tokens_max) + 16, 32, 1024)
        fields.update(
            # rank 16 on the attention projections: LoRA on the MLPs too costs ~40% more per step on a CPU
            lora_r=16, lora_alpha=32.0, lora_dropout=0.05, target_modules=list(ATTENTION_TARGETS),
            epochs=_epochs_for(stats.n_train, 6_000, 1, 5),
            # 2 examples per forward and backward: 8 x 512 tokens of SmolLM2-135M activations take ~9 GB in fp32
            learning_rate=1e-3, batch_size=8, micro_batch_size=2, warmup_ratio=0.05,
            decoding=stats.decoding,
            max_val_examples=GENERATOR_VAL_EXAMPLES,
            max_new_tokens=answer,
            # long conversations keep their latest turns (data.encode_prompt): 1,024 tokens bound a step's cost
            max_length=_clamp(stats.prompt_tokens_p95 + answer, answer + 64, min(1024, candidate.context_length)),
        )
    fields.update(overrides)
    return Recipe.model_validate(fields)


def capped_length(recipe: Recipe, max_length: int) -> Recipe:
    """A generator recipe with at most `max_length` tokens per example (prompt + answer); the answer keeps at most
    half of them. Long conversations keep their latest turns (`data.encode_prompt`)."""
    if recipe.kind != "generator" or recipe.max_length <= max_length:
        return recipe
    return recipe.model_copy(update={"max_length": max_length,
                                     "max_new_tokens": min(recipe.max_new_tokens, max_length // 2)})
