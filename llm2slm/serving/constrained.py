"""Constrained greedy decoding for generator specialists, on HF `generate`, with xgrammar.

Each row of a batch gets its own grammar (`GrammarCache.grammars`): "tools" mode, a tool-call list over that row's
offered tools OR text that is not a tool call (`serving.grammar`); "json" mode, a JSON object; "none", no
constraint. A logits processor (`ConstrainedLogits`) masks, at every step, the tokens the row's grammar forbids,
so a greedy answer always parses. Compiled grammars are cached by tool set: an agent sends the same tools on every
call, while a BFCL-like task sends new ones on every call (compiling one costs ~5-25 ms, below).

Why xgrammar (0.2.9). Measured with SmolLM2-135M-Instruct (49,152-token vocabulary, CPU, 2 torch threads, 8 rows
x 48 new tokens, 2 tools; `generate` alone ~5.6 s, ~115 ms a step), time in the logits processor per row and
generated token (computing the row's mask + applying it), best of 3 runs on a shared 2-core machine:
- xgrammar 0.2.9: 0.39-0.43 ms per row-token for the tool-call schema (mask 0.21 ms), 0.20 ms for "tools" mode
  (schema or text), tokenizer set-up 110-140 ms once, grammar compilation 5-8 ms (up to 26 ms on a loaded machine);
- llguidance 1.9.1: 0.54-0.87 ms per row-token for the schema (mask 0.70 ms), 0.82 ms for "tools" mode, tokenizer
  set-up 240-530 ms, compilation 1.3-2 ms (it compiles lazily, during decoding).
Both installed from PyPI, ran offline with transformers 5.24 and gave the same answers. xgrammar costs least per
generated token (the cost that grows with traffic), applies the mask in native code on CPU, and batches the masks
of rows with different grammars in one call (`BatchGrammarMatcher`). lm-format-enforcer and outlines walk the
vocabulary in Python per step (an order of magnitude more per token), so they were not pursued.

Outcomes a caller relies on:
- the confidence is the least probability, over the steps of the answer, of the token the constrained step chose,
  in the distribution left after masking (a token the grammar forces has probability 1);
- a constrained row that runs out of `max_new_tokens` before its grammar lets it end (an unclosed JSON list or
  object) keeps its cut text and gets confidence 0.0: the router sends the call to the LLM as not confident (and
  were its threshold 0, `serving.answers` would reject the cut JSON as invalid, a fallback: the LLM answers too).
"""

from __future__ import annotations

import json
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from transformers import LogitsProcessor

from llm2slm.serving.grammar import JSON_OBJECT_SCHEMA, TEXT_REGEX, tool_call_schema, tools_key
from llm2slm.training.answer_format import COMPACT, DECODINGS

CACHE_ENTRIES = 256  # compiled grammars kept per specialist (least recently used dropped first)


def _xgrammar() -> Any:
    with warnings.catch_warnings():  # its optional GPU kernels announce themselves on import on some machines
        warnings.simplefilter("ignore", UserWarning)
        import xgrammar

    return xgrammar


def output_vocab_size(model: Any, tokenizer: Any) -> int:
    """Logits per step (the model's output width, which may exceed the tokenizer's vocabulary)."""
    embeddings = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if embeddings is not None and hasattr(embeddings, "weight"):
        return int(embeddings.weight.shape[0])
    return int(getattr(model.config, "vocab_size", len(tokenizer)))


def tokenizer_info(tokenizer: Any, vocab_size: int) -> Any:
    """xgrammar's view of the vocabulary: the tokenizer's special tokens (chat roles, padding, the end token) are
    empty (xgrammar reads an empty token as special, never as text; as text '<|end|>' would match a text grammar),
    and the end token is the only stop token, allowed where the grammar may end."""
    xgr = _xgrammar()
    eos = tokenizer.eos_token_id
    detected = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size, stop_token_ids=[eos])
    encoded = [""] * vocab_size
    for token, index in tokenizer.get_vocab().items():
        if index < vocab_size:
            encoded[index] = token
    special = set(tokenizer.all_special_ids) | {i for i, t in tokenizer.added_tokens_decoder.items() if t.special}
    for index in special | {eos}:
        if index < vocab_size:
            encoded[index] = ""
    return xgr.TokenizerInfo(encoded, vocab_type=detected.vocab_type, vocab_size=vocab_size, stop_token_ids=[eos],
                             add_prefix_space=detected.add_prefix_space)


class GrammarCache:
    """Compiled grammars for one tokenizer, keyed by (decoding, tool set)."""

    def __init__(self, tokenizer: Any, vocab_size: int, entries: int = CACHE_ENTRIES,
                 max_calls: int | None = None) -> None:
        """`max_calls`: tool calls per answer at most (specialist.json's `max_tool_calls`; None: no limit)."""
        xgr = _xgrammar()
        self.max_calls = max_calls
        self.compiler = xgr.GrammarCompiler(tokenizer_info(tokenizer, vocab_size), max_threads=max(1, torch.get_num_threads()))
        self.vocab_size, self.entries = vocab_size, entries
        self.compiled: OrderedDict[str, Any] = OrderedDict()
        self.compilations = 0  # grammars compiled so far (cache misses)

    def grammar(self, decoding: str, tools: Sequence[Any] | None) -> Any | None:
        """The compiled grammar of one row, None for "none"; ValueError for a tool whose schema is unusable."""
        if decoding not in DECODINGS:
            raise ValueError(f"decoding {decoding!r} is not one of {', '.join(DECODINGS)}")
        if decoding == "none":
            return None
        key = decoding + "\n" + (tools_key(tools) if decoding == "tools" else "")
        if key in self.compiled:
            self.compiled.move_to_end(key)
            return self.compiled[key]
        compiled = self.compiler.compile_grammar(self._grammar(decoding, tools))
        self.compilations += 1
        self.compiled[key] = compiled
        if len(self.compiled) > self.entries:
            self.compiled.popitem(last=False)
        return compiled

    def grammars(self, decoding: str, rows: Sequence[Mapping[str, Any]]) -> list[Any | None]:
        """One compiled grammar per row (from the row's `tools`)."""
        return [self.grammar(decoding, row.get("tools")) for row in rows]

    def _grammar(self, decoding: str, tools: Sequence[Any] | None) -> Any:
        xgr = _xgrammar()
        text = xgr.Grammar.from_regex(TEXT_REGEX)
        if decoding == "json":
            return self._schema(JSON_OBJECT_SCHEMA, strict=False, what="a JSON object")
        if not tools:  # nothing to call: text only
            return text
        schema = tool_call_schema(tools, self.max_calls)  # ValueError naming a tool whose parameters are not a JSON Schema
        names = [branch["properties"]["name"]["const"] for branch in schema["items"]["anyOf"]]
        return xgr.Grammar.union(self._schema(schema, strict=True, what=f"tools {names}"), text)

    @staticmethod
    def _schema(schema: Mapping[str, Any], strict: bool, what: str) -> Any:
        """A grammar of compact JSON for the schema; strict: no properties or items the schema does not name."""
        try:
            return _xgrammar().Grammar.from_json_schema(json.dumps(schema), any_whitespace=False,
                                                       separators=COMPACT, strict_mode=strict)
        except (RuntimeError, ValueError) as exc:
            raise ValueError(f"{what}: the JSON Schema cannot be turned into a grammar: {exc}") from exc


class ConstrainedLogits(LogitsProcessor):
    """Masks each row's logits to the tokens its grammar allows next (a row without grammar: all tokens).

    HF calls it once per step with the tokens so far; the token chosen at the previous step is fed to the row's
    matcher first. A row whose grammar has ended may only write the end token. Use one instance per `generate`.
    """

    def __init__(self, grammars: Sequence[Any | None], vocab_size: int, eos_id: int) -> None:
        xgr = _xgrammar()
        self.matchers = [None if g is None else xgr.GrammarMatcher(g) for g in grammars]
        self.bitmask = xgr.allocate_token_bitmask(len(grammars), vocab_size)
        self.batch = xgr.BatchGrammarMatcher(max_threads=max(1, torch.get_num_threads()))
        self.eos_id, self.started = eos_id, False

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.started:
            for matcher, token in zip(self.matchers, input_ids[:, -1].tolist(), strict=True):
                if matcher is not None and not matcher.is_terminated():
                    matcher.accept_token(token)
        self.started = True
        constrained = [i for i, m in enumerate(self.matchers) if m is not None]
        if not constrained:
            return scores
        live = [i for i in constrained if not self.matchers[i].is_terminated()]
        self.bitmask.fill_(-1)  # every token allowed (rows without grammar)
        for i in set(constrained) - set(live):  # ended: the end token only (HF pads these rows anyway)
            self.bitmask[i].zero_()
            self.bitmask[i, self.eos_id // 32] = 1 << (self.eos_id % 32)
        if live:
            self.batch.batch_fill_next_token_bitmask([self.matchers[i] for i in live], self.bitmask, live)
        _xgrammar().apply_token_bitmask_inplace(scores, self.bitmask.to(scores.device))
        return scores


def greedy_confidence(scores: Sequence[torch.Tensor], generated: torch.Tensor, eos_id: int | None) -> list[float]:
    """Per row, the least probability of a generated token up to and including its first end token (the steps
    after it are padding). `scores[t]`: the (processed, so masked) logits of step t, one row per sequence."""
    if not scores:
        return [1.0] * generated.shape[0]
    steps = torch.stack([s.float().log_softmax(-1) for s in scores], 1)  # rows x steps x vocabulary
    tokens = generated[:, :steps.shape[1]]
    chosen = steps.gather(-1, tokens.unsqueeze(-1)).squeeze(-1).exp()  # rows x steps
    if eos_id is not None:
        ended = (tokens == eos_id).long().cumsum(1)
        after_end = (ended - (tokens == eos_id).long()) > 0  # steps after the first end token
        chosen = chosen.masked_fill(after_end, 1.0)
    chosen = torch.nan_to_num(chosen, nan=1.0)  # a padded step's row may be all -inf (no token allowed)
    return [min(1.0, float(v)) for v in chosen.min(1).values.tolist()]


def greedy_generate(model: Any, tokenizer: Any, prompts: Sequence[Sequence[int]], max_new_tokens: int,
                    grammars: Sequence[Any | None] | None = None,
                    before: Sequence[LogitsProcessor] = ()) -> list[tuple[str, float]]:
    """(generated text, confidence) per prompt (token ids): batched greedy decoding, left-padded, each row under
    its grammar (None: unconstrained). A constrained row that never wrote its end token gets confidence 0.0.
    `before`: logits processors applied ahead of the constraint (a penalty, a bias)."""
    width = max(len(p) for p in prompts)  # tokens of the longest prompt
    pad, eos = tokenizer.pad_token_id, tokenizer.eos_token_id
    input_ids = torch.tensor([[pad] * (width - len(p)) + list(p) for p in prompts])
    attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    constrained = grammars is not None and any(g is not None for g in grammars)
    processors = list(before)
    if constrained:
        processors.append(ConstrainedLogits(grammars, output_vocab_size(model, tokenizer), eos))
    output = model.generate(input_ids=input_ids, attention_mask=attention, max_new_tokens=max_new_tokens,
                            do_sample=False, pad_token_id=pad, eos_token_id=eos, logits_processor=processors or None,
                            output_scores=True, return_dict_in_generate=True)
    generated = output.sequences[:, width:]
    confidence = greedy_confidence(output.scores, generated, eos)
    out = []
    for i, (ids, conf) in enumerate(zip(generated, confidence, strict=True)):
        cut = grammars is not None and grammars[i] is not None and not bool((ids == eos).any())
        out.append((tokenizer.decode(ids, skip_special_tokens=True).strip(), 0.0 if cut else conf))
    return out


def time_generation(model: Any, tokenizer: Any, rows: Sequence[Mapping[str, Any]], decoding: str,
                    max_new_tokens: int, max_length: int, repeats: int = 3,
                    cache: GrammarCache | None = None) -> dict[str, float]:
    """Time one batched greedy call over `rows` (best of `repeats`), constrained by `decoding` or not ("none").

    Returns: `ms_per_call` (wall ms of the best call, grammar look-up included), `tokens_per_s` (generated tokens,
    end tokens included, per second of that call), `new_tokens` (generated by that call), `grammar_ms` (compiling
    the grammars on the first call: 0 when `cache` already holds them), `rows`.
    """
    import time

    from llm2slm.training.data import encode_prompt

    prompts = [encode_prompt(tokenizer, r.get("messages") or [], r.get("tools"), max_length - max_new_tokens)
               for r in rows]
    if decoding != "none" and cache is None:
        cache = GrammarCache(tokenizer, output_vocab_size(model, tokenizer))
    grammar_ms = 0.0  # ms
    if cache is not None and decoding != "none":
        start = time.perf_counter()
        cache.grammars(decoding, rows)
        grammar_ms = (time.perf_counter() - start) * 1000
    best, tokens = float("inf"), 0
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        grammars = cache.grammars(decoding, rows) if cache is not None and decoding != "none" else None
        with torch.no_grad():
            answers = greedy_generate(model, tokenizer, prompts, max_new_tokens, grammars)
        elapsed = time.perf_counter() - start  # s
        if elapsed < best:
            best = elapsed
            tokens = sum(len(tokenizer(text, add_special_tokens=False)["input_ids"]) + 1 for text, _ in answers)
    return {"ms_per_call": best * 1000, "tokens_per_s": tokens / best, "new_tokens": float(tokens),
            "grammar_ms": grammar_ms, "rows": float(len(rows))}
