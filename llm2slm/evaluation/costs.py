"""Cost per 1,000 calls: the LLM's, from the token usage it logged, against the specialist's, from its measured time.

LLM: each call's prompt and completion tokens (the call record's `usage`) times the price per 1M tokens of its
model (`evaluate.llm_prices`, longest matching model-name prefix, else `default`).
Specialist: the wall time per call at batch throughput on this machine, times the cores it kept busy, times
`evaluate.cpu_hour_usd`. This assumes the specialist's machine is paid by the core-hour and kept busy; it leaves out
idle capacity, memory and GPU prices, so it is a lower bound for a lightly loaded deployment.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from llm2slm.common.config import TokenPrice
from llm2slm.common.schema import estimate_tokens


class CallUsage(BaseModel):
    model: str
    prompt_tokens: int
    completion_tokens: int


def price_for(model: str, prices: Mapping[str, TokenPrice]) -> TokenPrice:
    matches = [name for name in prices if name != "default" and model.startswith(name)]
    return prices[max(matches, key=len)] if matches else prices["default"]


def logged_usage(snapshot: Path | None, ids: set[str]) -> dict[str, CallUsage]:
    """Usage of the calls `ids` from a curated snapshot (Parquet with `id` and `record` columns)."""
    if snapshot is None or not Path(snapshot).is_file():
        return {}
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(snapshot, columns=["id", "record"])
    table = table.filter(pc.is_in(table.column("id"), value_set=pa.array(sorted(ids), type=pa.string())))
    usage = {}
    for call_id, text in zip(table.column("id").to_pylist(), table.column("record").to_pylist(), strict=True):
        record = json.loads(text)
        usage[call_id] = CallUsage(model=record["model"], prompt_tokens=record["usage"]["prompt_tokens"],
                                   completion_tokens=record["usage"]["completion_tokens"])
    return usage


def estimated_usage(row: Mapping[str, Any]) -> CallUsage:
    chars = sum(len(str(m.get("content") or "")) for m in row.get("messages") or [])
    chars += len(json.dumps(row["tools"])) if row.get("tools") else 0
    return CallUsage(model="unknown", prompt_tokens=estimate_tokens(chars),
                     completion_tokens=estimate_tokens(len(str(row.get("answer", "")))))


def llm_cost_per_1k(rows: Sequence[Mapping[str, Any]], usage: Mapping[str, CallUsage],
                    prices: Mapping[str, TokenPrice]) -> tuple[float, str]:
    """(USD per 1,000 calls, 'logged' or 'estimated' or 'mixed')."""
    total, found = 0.0, 0
    for row in rows:
        call = usage.get(row.get("id", ""))
        found += call is not None
        call = call or estimated_usage(row)
        price = price_for(call.model, prices)
        total += (call.prompt_tokens * price.prompt + call.completion_tokens * price.completion) / 1e6
    source = "logged" if found == len(rows) else ("estimated" if found == 0 else "mixed")
    return 1000 * total / max(1, len(rows)), source


def specialist_cost_per_1k(seconds_per_call: float, cores: int, cpu_hour_usd: float) -> float:
    return 1000 * seconds_per_call * cores * cpu_hour_usd / 3600
