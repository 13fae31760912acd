"""Cheap screens of candidates on a task's validation split, before any fine-tuning (seconds, not minutes).

- classifier: few-shot nearest neighbour. `shots` training calls per label are embedded with the candidate's
  encoder; each validation call takes the label of its most similar shot. Score: agreement with the LLM.
- span_tagger: the ceiling a span tagger can reach, the share of validation calls whose JSON values all occur
  verbatim in the last user message (nothing is run: the tagger has no zero-shot form).
- generator built from a config (`tiny:*`): random weights, so its zero-shot agreement is 0 by construction.
- pretrained generator (packaged or from the hub): zero-shot. The request is rendered as the fine-tuned specialist
  will see it (the model's chat template, the tools summarised in the system turn) and answered greedily, a batch
  at a time; a JSON list of {name, arguments} or `<tool_call>` blocks are read as tool calls. Score: agreement with
  the LLM. Generators are screened on at most `select.screen_generator_calls` calls (generation costs seconds).
Every screen returns (score or None, how it was measured).
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from llm2slm.evaluation.agreement import agreement
from llm2slm.selection.shapes import last_user_message
from llm2slm.training.catalogue import TINY_PREFIX, Candidate
from llm2slm.training.prompts import classifier_input_text

log = logging.getLogger("llm2slm.select")
TOOL_CALL_BLOCK = re.compile(r"<tool_call>\s*(\{.*?\})\s*</tool_call>", re.DOTALL)

Rows = Sequence[Mapping[str, Any]]


@lru_cache(maxsize=2)
def load_encoder(base: str) -> tuple[Any, Any]:
    """(tokenizer, encoder) of a base, loaded once per process (loading costs more than screening)."""
    import transformers
    from transformers import AutoModel, AutoTokenizer

    from llm2slm.common.packaged import resolve_model

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    location = resolve_model(base)
    return AutoTokenizer.from_pretrained(location), AutoModel.from_pretrained(location).eval()


def embed(base: str, texts: list[str], max_length: int = 256) -> np.ndarray:
    """Unit-length mean-pooled encoder vectors (what sentence-transformers computes for MiniLM), on the CPU."""
    import torch

    tokenizer, model = load_encoder(base)
    vectors = []
    with torch.no_grad():
        for start in range(0, len(texts), 64):
            batch = tokenizer(texts[start:start + 64], padding=True, truncation=True, max_length=max_length,
                              return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            vectors.append(torch.nn.functional.normalize(pooled, dim=1).numpy())
    return np.concatenate(vectors) if vectors else np.zeros((0, 0), dtype=np.float32)


def nearest_neighbour_screen(base: str, train: Rows, val: Rows, shots: int) -> tuple[float, str]:
    by_label: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in train:
        if len(by_label[row["answer"]]) < shots:
            by_label[row["answer"]].append(row)
    support = [row for rows in by_label.values() for row in rows]
    vectors = embed(base, [classifier_input_text(r["messages"]) for r in [*support, *val]])
    support_vectors, val_vectors = vectors[:len(support)], vectors[len(support):]
    nearest = np.argmax(val_vectors @ support_vectors.T, axis=1)
    predicted = [support[i]["answer"] for i in nearest]
    score = agreement(predicted, [r["answer"] for r in val])
    return score, f"few-shot nearest neighbour, {shots} shots x {len(by_label)} labels, {len(val)} val calls"


def span_ceiling_screen(val: Rows) -> tuple[float, str]:
    covered = 0
    for row in val:
        try:
            values = json.loads(row["answer"])
        except json.JSONDecodeError:
            continue
        source = last_user_message(row.get("messages") or [])
        if isinstance(values, dict) and all(str(v).strip() in source for v in values.values()):
            covered += 1
    return covered / max(1, len(val)), f"span ceiling: answers fully copied from the request, {len(val)} val calls"


SCREEN_BATCH = 8  # validation calls generated together in the zero-shot screen


def _as_tool_calls(text: str) -> str:
    """`<tool_call>{...}</tool_call>` blocks (the form many instruct models use) as the canonical tool-call list;
    any other text as it is."""
    calls = []
    for block in TOOL_CALL_BLOCK.findall(text):
        try:
            call = json.loads(block)
        except json.JSONDecodeError:
            return text
        calls.append({"name": call.get("name"), "arguments": call.get("arguments", {})})
    return json.dumps(calls, sort_keys=True) if calls else text


def _zero_shot_answers(model: Any, tokenizer: Any, val: Rows, max_new_tokens: int) -> list[str]:
    """Greedy answers to the validation requests, rendered as the fine-tuned specialist will see them
    (`llm2slm.training.data.encode_prompt`: the tools summarised in the system turn), SCREEN_BATCH at a time."""
    import torch

    from llm2slm.training.data import encode_prompt
    from llm2slm.training.prompts import tool_calls_text

    answers: list[str] = []
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    for start in range(0, len(val), SCREEN_BATCH):
        prompts = [encode_prompt(tokenizer, r.get("messages") or [], r.get("tools"), 2048)
                   for r in val[start:start + SCREEN_BATCH]]
        width = max(len(p) for p in prompts)  # tokens of the longest prompt; the others are padded on the left
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
        with torch.no_grad():
            out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=pad)
        for row in out[:, width:]:
            text = tokenizer.decode(row, skip_special_tokens=True).strip()
            answer = _as_tool_calls(text)
            try:  # a JSON list of {name, arguments}, the form the tools summary asks for
                parsed = json.loads(answer)
                if isinstance(parsed, list) and all(isinstance(c, dict) and "name" in c for c in parsed):
                    answer = tool_calls_text([{"function": {"name": c["name"], "arguments": c.get("arguments", {})}}
                                              for c in parsed])
            except (json.JSONDecodeError, TypeError):
                pass
            answers.append(answer)
    return answers


def zero_shot_screen(base: str, val: Rows, max_new_tokens: int) -> tuple[float, str]:
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llm2slm.common.packaged import resolve_model

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    location = resolve_model(base)
    gpu = torch.cuda.is_available()
    tokenizer = AutoTokenizer.from_pretrained(location)
    model = AutoModelForCausalLM.from_pretrained(location, dtype=torch.bfloat16 if gpu else torch.float32)
    model = model.to("cuda" if gpu else "cpu").eval()
    predicted = _zero_shot_answers(model, tokenizer, val, max_new_tokens)
    return agreement(predicted, [r["answer"] for r in val]), f"zero-shot, {len(val)} val calls"


def screen(candidate: Candidate, train: Rows, val: Rows, shots: int, screen_generators: bool,
           max_params: int, max_new_tokens: int) -> tuple[float | None, str]:
    """(score in [0, 1] or None when not screened, how)."""
    if not val:
        return None, "not screened: the task has no validation calls"
    try:
        if candidate.kind == "classifier":
            return nearest_neighbour_screen(candidate.base, train, val, shots)
        if candidate.kind == "span_tagger":
            return span_ceiling_screen(val)
        if candidate.base.startswith(TINY_PREFIX):
            return 0.0, "zero-shot 0 by construction: a model built from a config has random weights"
        if not screen_generators:
            return None, "not screened: select.screen_generators is false"
        if candidate.params > max_params:
            return None, f"not screened: {candidate.params:,} parameters > select.screen_max_params"
        return zero_shot_screen(candidate.base, val, max_new_tokens)
    except Exception as exc:  # a screen must not sink the selection; the reason is recorded
        log.warning("screen of %s failed: %s", candidate.name, exc)
        return None, f"screen failed: {type(exc).__name__}: {str(exc)[:200]}"
