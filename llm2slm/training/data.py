"""Task rows -> tensors: reading the task folder and the collators that batch rows for training.

A row is {"id", "messages", "tools", "answer"}. Rows are tokenised in the collator, so each Ray worker only
tokenises its own shard. Classifier batches: input_ids/attention_mask (+ token_type_ids) and a label index
(-100 when the answer is outside the label set). Span-tagger batches: one BIO tag per token (llm2slm.training.tagger).
Generator batches: prompt + answer + EOS, right-padded, with
labels -100 on prompt and padding so that the loss covers answer tokens only.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from llm2slm.training.answer_format import generation_target
from llm2slm.training.prompts import chat_messages, classifier_input_text

IGNORE = -100  # label index ignored by the cross-entropy loss


def read_rows(path: Path | str) -> list[dict[str, Any]]:
    """The rows of a JSONL split; a missing file is an empty split."""
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def sample_rows(rows: list[dict[str, Any]], limit: int | None, seed: int) -> list[dict[str, Any]]:
    """At most `limit` rows, drawn reproducibly; order kept."""
    if limit is None or len(rows) <= limit:
        return rows
    keep = sorted(random.Random(seed).sample(range(len(rows)), limit))
    return [rows[i] for i in keep]


def encode_prompt(tokenizer: Any, messages: Sequence[Any], tools: Sequence[Any] | None, max_tokens: int) -> list[int]:
    """Token ids of the rendered chat prompt (ending with the assistant header), cut from the left to max_tokens."""
    text = tokenizer.apply_chat_template(chat_messages(messages, tools), tokenize=False, add_generation_prompt=True)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return ids[-max_tokens:] if max_tokens > 0 else []


def encode_generator_example(
    tokenizer: Any, row: Mapping[str, Any], max_length: int, max_new_tokens: int, decoding: str = "none"
) -> tuple[list[int], list[int]]:
    """(input ids, labels) for one row: the answer (+EOS) keeps up to max_new_tokens, the prompt fills the rest.
    The answer is written in the layout of the recipe's `decoding` (`answer_format.generation_target`)."""
    target = generation_target(str(row.get("answer", "")), decoding)
    answer = tokenizer(target, add_special_tokens=False)["input_ids"][: max_new_tokens - 1]
    answer = answer + [tokenizer.eos_token_id]
    prompt = encode_prompt(tokenizer, row.get("messages") or [], row.get("tools"), max_length - len(answer))
    return prompt + answer, [IGNORE] * len(prompt) + answer


class ClassifierCollator:
    """Rows -> a padded classifier batch (inputs cut to max_length tokens)."""

    def __init__(self, tokenizer: Any, labels: Sequence[str], max_length: int) -> None:
        self.tokenizer = tokenizer
        self.index = {label: i for i, label in enumerate(labels)}
        self.max_length = max_length

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        texts = [classifier_input_text(r.get("messages") or []) for r in rows]
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        batch = dict(batch)
        batch["labels"] = torch.tensor([self.index.get(str(r.get("answer")), IGNORE) for r in rows])
        return batch


class GeneratorCollator:
    """Rows -> a right-padded causal-LM batch with the loss on answer tokens only."""

    def __init__(self, tokenizer: Any, max_length: int, max_new_tokens: int, decoding: str = "none") -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.max_new_tokens = max_new_tokens
        self.decoding = decoding  # the answers' layout: answer_format.generation_target

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        pairs = [encode_generator_example(self.tokenizer, r, self.max_length, self.max_new_tokens, self.decoding)
                 for r in rows]
        width = max(len(ids) for ids, _ in pairs)  # tokens in the longest example of the batch
        pad = self.tokenizer.pad_token_id
        input_ids = torch.full((len(pairs), width), pad, dtype=torch.long)
        labels = torch.full((len(pairs), width), IGNORE, dtype=torch.long)
        attention = torch.zeros((len(pairs), width), dtype=torch.long)
        for i, (ids, target) in enumerate(pairs):
            input_ids[i, : len(ids)] = torch.tensor(ids)
            labels[i, : len(target)] = torch.tensor(target)
            attention[i, : len(ids)] = 1
        return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}


def make_collator(recipe: Any, tokenizer: Any) -> Any:
    """The collator of the recipe's kind (span tagger rows must carry `spans`: `spans.tag_rows`)."""
    if recipe.kind == "classifier":
        return ClassifierCollator(tokenizer, recipe.labels or [], recipe.max_length)
    if recipe.kind == "span_tagger":
        from llm2slm.training.tagger import SpanCollator

        return SpanCollator(tokenizer, recipe.max_length)
    return GeneratorCollator(tokenizer, recipe.max_length, recipe.max_new_tokens, recipe.decoding)
