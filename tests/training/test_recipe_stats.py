"""A task's token statistics use the project's one token estimate (ceil(chars / 4)) and percentile (numpy's)."""

from __future__ import annotations

from llm2slm.common.schema import estimate_tokens
from llm2slm.common.stats import percentile_ceil
from llm2slm.training.prompts import classifier_input_text
from llm2slm.training.recipe import task_stats_from_rows


def test_token_statistics_are_ceil_chars_over_four_at_the_95th_percentile():
    rows = [{"messages": [{"role": "user", "content": "x" * (4 * i)}], "answer": "a" * 8} for i in range(1, 21)]
    stats = task_stats_from_rows(rows)
    assert [estimate_tokens(len(classifier_input_text(r["messages"]))) for r in rows] == list(range(1, 21))
    assert stats.input_tokens_p95 == percentile_ceil(list(range(1, 21)), 95) == 20  # 19.05, rounded up
    assert stats.answer_tokens_max == 2  # 8 characters
    assert stats.labels is None  # one distinct answer is no label set
