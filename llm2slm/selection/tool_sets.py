"""Whether a tool-calling task is one agent's fixed tool set or a different tool set on every call.

A generator specialist is distilled on the calls of one agent: it learns to call the tools those calls offered.
When the held-out calls offer tool sets the training calls never offered (a benchmark of function calling, a
router in front of many agents), the specialist would have to call tools it never saw in training: general
function calling, which a small model's zero-shot screen measures. `tool_set_reuse` is the share of validation
calls whose offered set of function names (order ignored) was offered by some training call; selection keeps such
a task on the LLM when the share is below `select.min_tool_set_reuse` and no candidate's zero-shot screen reaches
`select.generalist_screen` (`select`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel


class ToolSetReuse(BaseModel):
    share: float  # of the validation calls whose offered tool set some training call offered too
    n_val: int
    n_train_sets: int  # distinct tool sets the training calls offered
    n_functions: int  # distinct function names offered over the training calls

    def describe(self) -> str:
        return (f"tool sets: {self.share:.0%} of {self.n_val} val calls offer a set of tools the train calls "
                f"offered ({self.n_train_sets} distinct sets, {self.n_functions} functions in training)")


def tool_set(row: Mapping[str, Any]) -> frozenset[str]:
    """The names of the functions a request offered (empty when it offered none)."""
    names = set()
    for tool in row.get("tools") or []:
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if isinstance(function, Mapping) and isinstance(function.get("name"), str):
            names.add(function["name"])
    return frozenset(names)


def tool_set_reuse(train: Sequence[Mapping[str, Any]], val: Sequence[Mapping[str, Any]]) -> ToolSetReuse:
    """How many validation calls offer a tool set seen in training (share 1.0 when there are no val calls)."""
    seen = {tool_set(row) for row in train}
    reused = sum(tool_set(row) in seen for row in val)
    return ToolSetReuse(share=reused / len(val) if val else 1.0, n_val=len(val), n_train_sets=len(seen),
                        n_functions=len(set().union(*seen)) if seen else 0)
