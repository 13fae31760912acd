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
- generator: the least probability of a generated token of the greedy answer, its end token included; under
  constrained decoding (specialist.json's `decoding`), the probability the constrained step gave the token it
  chose, and 0.0 for an answer cut by max_new_tokens before its grammar could end (`serving.constrained`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from llm2slm.serving.constrained import greedy_confidence  # noqa: F401 (its home before constrained decoding)
from llm2slm.training.answer_format import canonical_answer
from llm2slm.training.data import encode_prompt
from llm2slm.training.models import ENCODER_KINDS, load_encoder_specialist, load_generator, read_meta
from llm2slm.training.prompts import classifier_input_text

BATCH = 32  # rows per forward pass


class Specialist:
    def __init__(self, model: Any, tokenizer: Any, meta: dict[str, Any]):
        self.model, self.tokenizer, self.meta = model, tokenizer, meta
        self.kind: str = meta["kind"]
        self._grammars: Any = None  # constrained decoding's GrammarCache, built on first use

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
        """Greedy answers, constrained by the recipe's `decoding` (none, json, tools) and written canonically."""
        from llm2slm.serving.constrained import greedy_generate

        new_tokens = int(self.meta["max_new_tokens"])
        prompt_budget = int(self.meta["max_length"]) - new_tokens  # tokens left for the prompt
        prompts = [encode_prompt(self.tokenizer, r.get("messages") or [], r.get("tools"), prompt_budget)
                   for r in rows]
        decoding = self.decoding
        grammars = self.grammar_cache().grammars(decoding, rows) if decoding != "none" else None
        answers = greedy_generate(self.model, self.tokenizer, prompts, new_tokens, grammars)
        return [(canonical_answer(text, decoding), confidence) for text, confidence in answers]

    @property
    def decoding(self) -> str:
        """The generator's constrained decoding: specialist.json's `decoding`, "none" for older specialists."""
        return str(self.meta.get("decoding") or "none")

    def grammar_cache(self) -> Any:
        """The compiled grammars of this specialist's tokenizer (built on first use)."""
        if self._grammars is None:
            from llm2slm.serving.constrained import GrammarCache, output_vocab_size

            self._grammars = GrammarCache(self.tokenizer, output_vocab_size(self.model, self.tokenizer),
                                          max_calls=self.meta.get("max_tool_calls"))
        return self._grammars
