"""The span tagger: an encoder (MiniLM) with a linear head giving every token a BIO tag per JSON field.

It reads the last user message (with the assistant turn before it as a second segment, for context), tags the
tokens of the user message, and renders the tagged spans as the JSON object the LLM writes
(`llm2slm.training.spans`). Training rows carry their value spans (`spans.tag_rows`), found by the driver.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from llm2slm.training.data import IGNORE
from llm2slm.training.spans import AnswerStyle, decode_tags, deciding_tokens, render_answer, tagger_inputs


def n_tags(n_fields: int) -> int:
    """O plus a B and an I tag per field."""
    return 1 + 2 * n_fields


class TokenTagger(nn.Module):
    """Encoder -> one logit per tag for every token."""

    def __init__(self, encoder: nn.Module, n_fields: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.config.hidden_size, n_tags(n_fields))

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state
        return self.head(hidden)


def encode_for_tagging(tokenizer: Any, rows: Sequence[Mapping[str, Any]], max_length: int) -> tuple[Any, list[str]]:
    """Tokenised (user message, context) pairs with offsets; returns (batch encoding, user texts)."""
    pairs = [(r["text"], r.get("context", "")) if "text" in r else tagger_inputs(r.get("messages") or [])
             for r in rows]
    texts = [text for text, _ in pairs]
    batch = tokenizer(texts, [context for _, context in pairs], padding=True, truncation=True,
                      max_length=max_length, return_offsets_mapping=True, return_tensors="pt")
    return batch, texts


def token_offsets(batch: Any, i: int) -> list[tuple[int, int]]:
    """Character offsets of row i's tokens in its user message; (0, 0) for special and context tokens."""
    sequence = batch.sequence_ids(i)
    return [(int(s), int(e)) if sequence[j] == 0 else (0, 0) for j, (s, e) in enumerate(batch["offset_mapping"][i])]


def bio_labels(offsets: Sequence[tuple[int, int]], spans: Sequence[Sequence[int]]) -> list[int]:
    """Tag ids of the tokens: B on a span's first token, I on the rest, O elsewhere; IGNORE on skipped tokens."""
    labels: list[int] = []
    started: set[int] = set()
    for start, end in offsets:
        if end <= start:
            labels.append(IGNORE)
            continue
        inside = next((k for k, (s, e, _) in enumerate(spans) if s <= start < e), None)
        if inside is None:
            labels.append(0)
            continue
        field = spans[inside][2]
        labels.append(1 + 2 * field + (1 if inside in started else 0))
        started.add(inside)
    return labels


class SpanCollator:
    """Rows with `spans` -> a padded batch with one tag label per token."""

    def __init__(self, tokenizer: Any, max_length: int) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        batch, _ = encode_for_tagging(self.tokenizer, rows, self.max_length)
        labels = [bio_labels(token_offsets(batch, i), rows[i]["spans"]) for i in range(len(rows))]
        out = {k: v for k, v in batch.items() if k != "offset_mapping"}
        out["labels"] = torch.tensor(labels, dtype=torch.long)
        return out


def build_span_tagger(recipe: Any) -> tuple[TokenTagger, Any]:
    from transformers import AutoTokenizer

    from llm2slm.training.models import load_encoder, lora, quiet_transformers, resolve_base

    quiet_transformers()
    path = resolve_base(recipe.base_model)
    encoder = load_encoder(path)
    if recipe.method == "lora":
        encoder = lora(encoder, recipe, task_type=None)
    torch.manual_seed(recipe.seed)  # the head's initial weights
    return TokenTagger(encoder, len(recipe.fields or [])), AutoTokenizer.from_pretrained(path)


@torch.no_grad()
def predict_json(model: TokenTagger, tokenizer: Any, rows: Sequence[Mapping[str, Any]],
                 meta: Mapping[str, Any]) -> list[str]:
    """The JSON answer of each row, rendered from the tagged spans of its last user message."""
    return [answer for answer, _ in predict_json_with_confidence(model, tokenizer, rows, meta)]


@torch.no_grad()
def predict_json_with_confidence(model: TokenTagger, tokenizer: Any, rows: Sequence[Mapping[str, Any]],
                                 meta: Mapping[str, Any]) -> list[tuple[str, float]]:
    """(the JSON answer, its confidence) of each row. The confidence is the least probability of the chosen tag
    over the tokens that decide a tag (`deciding_tokens`: a word's first piece), O tags included: one doubtful
    word, a value's edge or a value missed, makes the whole answer doubtful. 1.0 when the message has no word."""
    fields, style = list(meta["fields"]), AnswerStyle.model_validate(meta.get("answer_style") or {})
    batch, texts = encode_for_tagging(tokenizer, rows, int(meta["max_length"]))
    inputs = {k: v for k, v in batch.items() if k != "offset_mapping"}
    best, chosen = model(**inputs).float().softmax(-1).max(-1)
    tags, probabilities = chosen.tolist(), best.tolist()
    answers = []
    for i, text in enumerate(texts):
        offsets = token_offsets(batch, i)
        spans = decode_tags(tags[i], offsets, len(fields), text)
        confidence = min((probabilities[i][j] for j in deciding_tokens(offsets, text)), default=1.0)
        answers.append((render_answer(text, spans, fields, style), min(1.0, float(confidence))))
    return answers
