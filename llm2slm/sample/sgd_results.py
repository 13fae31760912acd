"""How many tool results a reply needs: where the values a SYSTEM turn offers sit in the latest tool results.

An SGD reply offers values (`OFFER` acts: a flight's airline and price, a restaurant's name) from the results of
the dialogue's latest tool call, the first result first and later ones when the user asks for something else. The
share of offers covered by the first k results says how many results a tool message must keep.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

NOT_OFFERED_FROM_RESULTS: frozenset[str] = frozenset({"intent", "count"})  # offers of an intent or a result count


@dataclass(frozen=True)
class Coverage:
    offers: int  # OFFER acts after a tool call
    not_in_results: int  # offers whose values no result of the latest call holds
    within: dict[int, int]  # k -> offers whose values are all in the first k results

    def share(self, k: int) -> float:
        return self.within[k] / self.offers if self.offers else 1.0


def offer_indices(dialogue: dict[str, Any]) -> Iterator[int | None]:
    """For each value offer after a tool call: the last result index it needs (None: not in the results)."""
    results: list[dict[str, Any]] | None = None
    for turn in dialogue["turns"]:
        if turn["speaker"] != "SYSTEM" or not turn["frames"]:
            continue
        frame = turn["frames"][0]
        if "service_call" in frame:
            results = frame.get("service_results", [])
        if results is None:
            continue
        for action in frame["actions"]:
            if action["act"] != "OFFER" or action["slot"] in NOT_OFFERED_FROM_RESULTS:
                continue
            yield _needed(results, action["slot"], action["canonical_values"])


def _needed(results: list[dict[str, Any]], slot: str, values: list[str]) -> int | None:
    needed = -1
    for value in values:
        at = next((i for i, r in enumerate(results) if r.get(slot) == value), None)
        if at is None:
            return None
        needed = max(needed, at)
    return needed


def coverage(dialogues: list[dict[str, Any]], ks: tuple[int, ...] = (1, 2, 3, 5, 10)) -> Coverage:
    """The offers of `dialogues` and how many of them the first k results cover, for each k."""
    needed = [n for d in dialogues for n in offer_indices(d)]
    found = [n for n in needed if n is not None]
    return Coverage(len(needed), len(needed) - len(found), {k: sum(1 for n in found if n < k) for k in ks})
