"""The test calls as they were captured: what the router will see, real names and places included.

A task's test split holds the curated (scrubbed) calls. The raw figure scores the specialist on the same calls as
the store holds them: for each test row, the captured record with its id, made into a row by the split's own
`to_example`, so the only difference between the two rows is scrubbing; the reference is the captured record's
LLM answer. These rows are plaintext: they live in memory for one evaluation and are never written anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from llm2slm.common.schema import CallRecord
from llm2slm.discovery.split import to_example


@dataclass(frozen=True)
class CapturedRows:
    """The test rows' calls as captured (in memory only), or why there are none (`skipped`, else "")."""

    rows: list[dict] = field(default_factory=list)
    skipped: str = ""


def captured_rows(records: Iterable[CallRecord], rows: Sequence[Mapping[str, Any]]) -> list[dict]:
    """The captured calls of `rows`, in the rows' order, as split examples; an id the records lack is left out."""
    wanted = {row["id"] for row in rows}
    by_id = {r.id: r for r in records if r.id in wanted}
    return [to_example(by_id[row["id"]]) for row in rows if row["id"] in by_id]
