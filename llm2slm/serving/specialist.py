"""A trained specialist, loaded from its folder, answering call requests.

`predict_rows` takes rows `{"messages": [...], "tools": [...] | None}` and returns the answer as canonical text,
the same form as the LLM's `answer` in the task datasets: a label for a classifier, the JSON object rendered from
tagged spans for a span tagger, the generated text (a JSON object, a JSON list of tool calls, or free text) for a
generator.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from llm2slm.training.data import encode_prompt
from llm2slm.training.models import ENCODER_KINDS, load_encoder_specialist, load_generator, read_meta
from llm2slm.training.prompts import classifier_input_text

BATCH = 32  # rows per forward pass


class Specialist:
    def __init__(self, model: Any, tokenizer: Any, meta: dict[str, Any]):
        self.model, self.tokenizer, self.meta = model, tokenizer, meta
        self.kind: str = meta["kind"]

    @classmethod
    def load(cls, model_dir: Path | str) -> "Specialist":
        torch.set_num_threads(max(1, os.cpu_count() or 1))
        kind = read_meta(model_dir)["kind"]
        loader = load_encoder_specialist if kind in ENCODER_KINDS else load_generator
        return cls(*loader(model_dir))

    @torch.no_grad()
    def predict_rows(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        answers: list[str] = []
        for start in range(0, len(rows), BATCH):
            chunk = rows[start:start + BATCH]
            if self.kind == "classifier":
                answers += self._classify(chunk)
            elif self.kind == "span_tagger":
                from llm2slm.training.tagger import predict_json

                answers += predict_json(self.model, self.tokenizer, chunk, self.meta)
            else:
                answers += self._generate(chunk)
        return answers

    def _classify(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        texts = [classifier_input_text(r.get("messages") or []) for r in rows]
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.meta["max_length"],
                               return_tensors="pt")
        logits = self.model(**dict(batch))
        labels = self.meta["labels"]
        return [labels[i] for i in logits.argmax(-1).tolist()]

    def _generate(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        new_tokens = int(self.meta["max_new_tokens"])
        prompt_budget = int(self.meta["max_length"]) - new_tokens  # tokens left for the prompt
        prompts = [encode_prompt(self.tokenizer, r.get("messages") or [], r.get("tools"), prompt_budget)
                   for r in rows]
        width = max(len(p) for p in prompts)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])  # left padding
        attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
        output = self.model.generate(input_ids=input_ids, attention_mask=attention, max_new_tokens=new_tokens,
                                     do_sample=False, pad_token_id=pad, eos_token_id=self.tokenizer.eos_token_id)
        return [self.tokenizer.decode(ids[width:], skip_special_tokens=True).strip() for ids in output]
