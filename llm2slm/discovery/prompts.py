"""The system prompt's template as a set of words, and how alike two templates are.

An agent sends one system prompt template with every call of a sub-task, filled with names, dates or counts; the
words found in at least half of a group's system prompts are its template, so the filled-in values drop out.
"""

from __future__ import annotations

import re
from collections import Counter

from llm2slm.common.schema import CallRecord

TEMPLATE_CHARS = 1000
_WORD = re.compile(r"[a-z][a-z_]+")


def prompt_words(prompt: str, chars: int = TEMPLATE_CHARS) -> frozenset[str]:
    return frozenset(_WORD.findall(prompt[:chars].lower()))


def system_template(records: list[CallRecord], share: float = 0.5) -> frozenset[str]:
    """The words found in at least `share` of the records' system prompts."""
    words: Counter[str] = Counter()
    cache: dict[str, frozenset[str]] = {}
    for record in records:
        prompt = record.system_prompt()
        if prompt not in cache:
            cache[prompt] = prompt_words(prompt)
        words.update(cache[prompt])
    return frozenset(w for w, n in words.items() if n >= share * len(records))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0
