"""A trained specialist, loaded from its folder, answering call requests.

`predict_rows` takes rows `{"messages": [...], "tools": [...] | None}` and returns the answer as canonical text,
the same form as the LLM's `answer` in the task datasets: a label for a classifier, the JSON object rendered from
tagged spans for a span tagger, the generated text (a JSON object, a JSON list of tool calls, or free text) for a
generator.

`predict_with_confidence` returns the same answers, each with the specialist's own confidence in it, in [0, 1]:
what the router compares with the version's calibrated threshold (docs/specialists.md, calibrated deferral).
- classifier: the softmax probability of the chosen label;
- span tagger: the least probability of the chosen tag over the words of the user message that decide a tag
  (`llm2slm.training.tagger.predict_json_with_confidence`);
- generator: the least probability of a generated token of the greedy answer, its end token included.
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

    def predict_rows(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        return [answer for answer, _ in self.predict_with_confidence(rows)]

    @torch.no_grad()
    def predict_with_confidence(self, rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, float]]:
        """(answer, confidence in [0, 1]) per row; the answers are `predict_rows`'."""
        out: list[tuple[str, float]] = []
        for start in range(0, len(rows), BATCH):
            chunk = rows[start:start + BATCH]
            if self.kind == "classifier":
                out += self._classify(chunk)
            elif self.kind == "span_tagger":
                from llm2slm.training.tagger import predict_json_with_confidence

                out += predict_json_with_confidence(self.model, self.tokenizer, chunk, self.meta)
            else:
                out += self._generate(chunk)
        return out

    def _classify(self, rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, float]]:
        texts = [classifier_input_text(r.get("messages") or []) for r in rows]
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.meta["max_length"],
                               return_tensors="pt")
        logits = self.model(**dict(batch))
        best, index = logits.float().softmax(-1).max(-1)
        labels = self.meta["labels"]
        return [(labels[i], min(1.0, float(p))) for i, p in zip(index.tolist(), best.tolist(), strict=True)]

    def _generate(self, rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, float]]:
        new_tokens = int(self.meta["max_new_tokens"])
        prompt_budget = int(self.meta["max_length"]) - new_tokens  # tokens left for the prompt
        prompts = [encode_prompt(self.tokenizer, r.get("messages") or [], r.get("tools"), prompt_budget)
                   for r in rows]
        width = max(len(p) for p in prompts)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])  # left padding
        attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
        output = self.model.generate(input_ids=input_ids, attention_mask=attention, max_new_tokens=new_tokens,
                                     do_sample=False, pad_token_id=pad, eos_token_id=self.tokenizer.eos_token_id,
                                     output_scores=True, return_dict_in_generate=True)
        generated = output.sequences[:, width:]
        confidence = greedy_confidence(output.scores, generated, self.tokenizer.eos_token_id)
        return [(self.tokenizer.decode(ids, skip_special_tokens=True).strip(), c)
                for ids, c in zip(generated, confidence, strict=True)]


def greedy_confidence(scores: Sequence[torch.Tensor], generated: torch.Tensor, eos_id: int | None) -> list[float]:
    """Per row, the least probability of a generated token up to and including its first end token (the steps
    after it are padding). `scores[t]`: the logits of step t, one row per sequence."""
    if not scores:
        return [1.0] * generated.shape[0]
    steps = torch.stack([s.float().log_softmax(-1) for s in scores], 1)  # rows x steps x vocabulary
    tokens = generated[:, :steps.shape[1]]
    chosen = steps.gather(-1, tokens.unsqueeze(-1)).squeeze(-1).exp()  # rows x steps
    if eos_id is not None:
        ended = (tokens == eos_id).long().cumsum(1)
        after_end = (ended - (tokens == eos_id).long()) > 0  # steps after the first end token
        chosen = chosen.masked_fill(after_end, 1.0)
    return [min(1.0, float(v)) for v in chosen.min(1).values.tolist()]
