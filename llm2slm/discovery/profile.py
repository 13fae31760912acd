"""What a task's calls look like from the outside: the form of their answers and their token lengths."""

from __future__ import annotations

from collections import Counter
from typing import Literal

from llm2slm.common.schema import CallRecord, estimate_tokens
from llm2slm.discovery.answers import json_keys
from llm2slm.common.stats import percentile_ceil
from llm2slm.common.schema import request_chars as request_text_chars

OutputShape = Literal["closed_label", "json", "tool_call", "free_text"]
PERCENTILES = (50, 90, 99)


def is_json_object(text: str) -> bool:
    return json_keys(text) is not None


def is_closed_label_set(answers: list[str], max_labels: int, coverage: float, max_distinct_share: float = 0.5) -> bool:
    """Few distinct answers: the `max_labels` most common cover `coverage` of the calls, and answers repeat
    (at most `max_distinct_share` as many distinct answers as calls, so a handful of unique JSON answers is not
    mistaken for a label set). The thresholds are selection's (`select.closed_label_max`,
    `select.closed_label_coverage`), so discovery and selection agree on what a label set is."""
    if not answers:
        return False
    counts = Counter(answers)
    covered = sum(n for _, n in counts.most_common(max_labels))
    return covered >= coverage * len(answers) and len(counts) <= max_distinct_share * len(answers)


TOOL_CALL_MIN_SHARE = 0.1  # share of a task's answers that must call a tool for the task to be a tool-call task


def output_shape(records: list[CallRecord], max_labels: int, coverage: float,
                 max_distinct_share: float = 0.5) -> tuple[OutputShape, int]:
    """(shape, number of distinct answers): tool calls if most requests offer tools and at least
    TOOL_CALL_MIN_SHARE of the answers call one (an agent that calls its tools on some turns and replies to the user
    on the others: the specialist must choose as the LLM did), else a closed label set, else JSON if most answers
    are JSON objects, else free text."""
    answers = [r.answer_text() for r in records]
    distinct = len(set(answers))
    offered = sum(bool(r.tools) for r in records)
    called = sum(bool(r.response.tool_calls) for r in records)
    if records and offered * 2 > len(records) and called >= TOOL_CALL_MIN_SHARE * len(records):
        return "tool_call", distinct
    if is_closed_label_set(answers, max_labels, coverage, max_distinct_share):
        return "closed_label", distinct
    if sum(is_json_object(a) for a in answers) * 2 > len(answers):
        return "json", distinct
    return "free_text", distinct


def request_chars(record: CallRecord) -> int:
    """Characters of the request: every message's content plus the tools' JSON."""
    return request_text_chars(record.messages, record.tools)


def _percentiles(values: list[int]) -> dict[str, int]:
    return {f"p{q}": percentile_ceil(values, q) for q in PERCENTILES}


def token_percentiles(records: list[CallRecord]) -> dict[str, dict[str, int]]:
    """Estimated tokens (ceil(chars / 4)) of request and answer: p50, p90, p99."""
    return {
        "request": _percentiles([estimate_tokens(request_chars(r)) for r in records]),
        "answer": _percentiles([estimate_tokens(len(r.answer_text())) for r in records]),
    }
