"""A generator's training budget: how many train calls and tokens one task's fine-tuning may spend.

On a CPU a generator's step costs seconds (SmolLM2-135M with LoRA: a few hundred tokens/s on 2 cores), so the
pipeline caps each task's generator training at `finetune.generator_max_train_calls` calls and
`finetune.generator_max_train_tokens` tokens through forward and backward, all epochs together. The calls are drawn
with the split seed (`data.sample_rows`), put in an order that keeps the mix of answer kinds in every prefix
(`mixed_order`: a tool-calling agent's calls and replies in the LLM's proportions, so a small budget does not
train on replies only), then kept in that order while the budget lasts. What the budget leaves out
is reported (`BudgetReport`) and logged with the run, so a figure reached at a budget is never mistaken for what the
model could do with the whole split.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel


class BudgetReport(BaseModel):
    """What a token budget kept of a task's training calls."""

    calls_available: int  # train calls of the task (after the call cap)
    calls_kept: int  # train calls trained on
    tokens_per_epoch: int  # prompt + answer tokens of the kept calls
    epochs: int
    max_tokens: int | None  # the budget, tokens through forward and backward (None: no token cap)

    @property
    def tokens(self) -> int:
        """Tokens through forward and backward in the whole run."""
        return self.tokens_per_epoch * self.epochs

    def describe(self) -> str:
        left = self.calls_available - self.calls_kept
        text = (f"{self.calls_kept} of {self.calls_available} train calls, {self.tokens:,} tokens "
                f"({self.tokens_per_epoch:,} x {self.epochs} epochs)")
        if self.max_tokens is not None:
            text += f" within the budget of {self.max_tokens:,}"
        return text + (f"; {left} calls left out by the budget" if left else "")


def mixed_order(rows: Sequence[dict[str, Any]], kinds: Sequence[str]) -> list[dict[str, Any]]:
    """The rows reordered so that every prefix holds each kind in about its share of all rows: the i-th of n rows
    of a kind goes at (i + 0.5) / n of the way (ties by kind, then by the rows' order)."""
    totals: dict[str, int] = {}
    for kind in kinds:
        totals[kind] = totals.get(kind, 0) + 1
    seen: dict[str, int] = {}
    position = []
    for index, kind in enumerate(kinds):
        rank = seen.get(kind, 0)
        seen[kind] = rank + 1
        position.append(((rank + 0.5) / totals[kind], kind, index))
    return [rows[index] for _, _, index in sorted(position)]


def within_token_budget(example_tokens: Sequence[int], epochs: int, max_tokens: int | None) -> int:
    """How many of the examples (in order) fit: their tokens times `epochs` stay within `max_tokens`. At least one
    example is kept, so a budget below one example still trains (and says so in the report)."""
    if max_tokens is None:
        return len(example_tokens)
    total = 0
    for count, tokens in enumerate(example_tokens):
        total += tokens * epochs
        if total > max_tokens:
            return max(1, count)
    return len(example_tokens)


def apply_token_budget(rows: list[dict[str, Any]], tokens: Sequence[int], epochs: int,
                       max_tokens: int | None) -> tuple[list[dict[str, Any]], BudgetReport]:
    """(the rows trained on, the report): the first rows whose tokens fit the budget."""
    kept = within_token_budget(tokens, epochs, max_tokens)
    return rows[:kept], BudgetReport(calls_available=len(rows), calls_kept=kept, tokens_per_epoch=sum(tokens[:kept]),
                                     epochs=epochs, max_tokens=max_tokens)
