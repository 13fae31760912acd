"""Banking triage (BANKING77): a bank's support assistant files each customer message under one category."""

from __future__ import annotations

import json
import random
from pathlib import Path

from llm2slm.sample.common import Example, assistant, read_csv_gz, sample_groups, system, user

PROMPT_HEAD = (
    "You are the triage step of Lumen Bank's in-app support assistant. Read the customer's message and file it "
    "under exactly one of the categories below so it reaches the right team.\n\nCategories:\n"
)
PROMPT_TAIL = "\n\nReply with the category name only, exactly as written above, and nothing else."


def load_queries(sources: Path) -> dict[str, list[str]]:
    """Customer queries by category (train then test), first occurrence of each text kept."""
    groups: dict[str, list[str]] = {}
    seen: set[str] = set()
    for name in ("train.csv.gz", "test.csv.gz"):
        for row in read_csv_gz(sources / "banking77" / name):
            text = row["text"].strip()
            if text and text not in seen:
                seen.add(text)
                groups.setdefault(row["category"], []).append(text)
    return groups


def system_prompt(sources: Path) -> str:
    categories: list[str] = json.loads((sources / "banking77" / "categories.json").read_text(encoding="utf-8"))
    return PROMPT_HEAD + "\n".join(f"- {c}" for c in categories) + PROMPT_TAIL


def build_banking(sources: Path, rng: random.Random, total: int) -> list[Example]:
    picked = sample_groups(load_queries(sources), total, rng, sigma=0.5)
    prompt = system_prompt(sources)
    return [
        Example(
            kind="banking_triage",
            messages=[system(prompt), user(text)],
            response=assistant(category),
            finish_reason="stop",
            label=category,
        )
        for category, text in picked
    ]
