"""Shared pieces of the sample-trace builder: the example type, file helpers and answer formatting."""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence, TypeVar

from llm2slm.common.schema import Message, Tool

T = TypeVar("T")

# Single-call kinds: each example is one independent call.
KINDS: tuple[str, ...] = ("intent_routing", "banking_triage", "slot_extraction", "tool_calling")
# Multi-turn kinds (Schema-Guided Dialogue): each dialogue is a trajectory of calls by one tool-using agent.
SGD_KINDS: tuple[str, ...] = (
    "sgd_flights", "sgd_restaurants", "sgd_music", "sgd_movies", "sgd_hotels", "sgd_banks",
)  # fmt: skip
ALL_KINDS: tuple[str, ...] = KINDS + SGD_KINDS
AGENTS: dict[str, str] = {
    "intent_routing": "assistant-router",
    "banking_triage": "bank-support",
    "slot_extraction": "table-booking",
    "tool_calling": "tools-agent",
    "sgd_flights": "flights-agent",
    "sgd_restaurants": "restaurants-agent",
    "sgd_music": "music-agent",
    "sgd_movies": "movies-agent",
    "sgd_hotels": "hotels-agent",
    "sgd_banks": "bank-accounts-agent",
}


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def default_sources_dir() -> Path:
    return repo_root() / "data" / "sources"


@dataclass
class Example:
    """One request/answer pair before it becomes a call: what the agent sent and what the LLM answered."""

    kind: str
    messages: list[Message]
    response: Message
    finish_reason: str
    label: str
    tools: list[Tool] | None = None
    pii_types: tuple[str, ...] = ()
    source_id: str = ""  # the source question's id where the same question may be asked more than once

    def with_user_text(self, text: str, pii_types: tuple[str, ...]) -> Example:
        """A copy whose last user message reads `text` (the answer is unchanged)."""
        messages = [m.model_copy() for m in self.messages]
        for i in range(len(messages) - 1, -1, -1):
            if messages[i].role == "user":
                messages[i] = messages[i].model_copy(update={"content": text})
                break
        return replace(self, messages=messages, pii_types=pii_types)

    def user_text(self) -> str:
        for m in reversed(self.messages):
            if m.role == "user":
                return m.content or ""
        return ""


@dataclass
class KindCounts:
    """How many examples to draw for each sub-task kind."""

    intent_in_scope: int = 7300
    intent_oos: int = 300
    banking: int = 6800
    slots: int = 4600
    tools: int = 1500
    sgd_per_agent: int | None = None  # calls per multi-turn agent (None: every bundled dialogue)

    def capped(self, max_per_kind: int | None) -> KindCounts:
        if max_per_kind is None:
            return self
        total_intent = self.intent_in_scope + self.intent_oos
        intent = min(total_intent, max_per_kind)
        oos = max(1, round(intent * self.intent_oos / total_intent)) if intent > 1 else 0
        return KindCounts(
            intent_in_scope=intent - oos,
            intent_oos=oos,
            banking=min(self.banking, max_per_kind),
            slots=min(self.slots, max_per_kind),
            tools=min(self.tools, max_per_kind),
            sgd_per_agent=max_per_kind if self.sgd_per_agent is None else min(self.sgd_per_agent, max_per_kind),
        )


def answer_json(obj: dict[str, Any]) -> str:
    """The JSON style the LLM answers in: sorted keys, `", "` and `": "` separators, non-ASCII kept."""
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))


def read_json_gz(path: Path) -> Any:
    if not Path(path).is_file():
        raise FileNotFoundError(f"sample source file missing: {path}")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)


def read_jsonl_gz(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def read_csv_gz(path: Path) -> list[dict[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def write_gz(path: Path, text: str) -> None:
    """Gzip `text` byte-for-byte reproducibly: no file name and a zero mtime in the header."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
        gz.write(text.encode("utf-8"))


def csv_text(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def skewed_quota(sizes: Sequence[int], total: int, rng: random.Random, sigma: float = 0.5) -> list[int]:
    """Split `total` draws over groups of the given sizes with lognormal popularity, never above a group's size."""
    weights = [rng.lognormvariate(0.0, sigma) for _ in sizes]
    quota = [0] * len(sizes)
    remaining = min(total, sum(sizes))
    while remaining > 0:
        open_groups = [i for i, size in enumerate(sizes) if quota[i] < size]
        weight_sum = sum(weights[i] for i in open_groups)
        given = 0
        for i in open_groups:
            share = min(int(remaining * weights[i] / weight_sum), sizes[i] - quota[i], remaining - given)
            quota[i] += share
            given += share
        if given == 0:
            for i in sorted(open_groups, key=lambda j: -weights[j])[:remaining]:
                quota[i] += 1
                given += 1
        remaining -= given
    return quota


def sample_groups(
    groups: dict[str, list[T]], total: int, rng: random.Random, sigma: float = 0.5
) -> list[tuple[str, T]]:
    """Draw `total` items from labelled groups with skewed (lognormal) group popularity; labels sorted first."""
    labels = sorted(groups)
    quota = skewed_quota([len(groups[label]) for label in labels], total, rng, sigma)
    picked: list[tuple[str, T]] = []
    for label, count in zip(labels, quota):
        picked.extend((label, item) for item in rng.sample(groups[label], count))
    rng.shuffle(picked)
    return picked


def system(text: str) -> Message:
    return Message(role="system", content=text)


def user(text: str) -> Message:
    return Message(role="user", content=text)


def assistant(text: str | None) -> Message:
    return Message(role="assistant", content=text)
