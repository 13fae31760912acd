"""A generator's token budget: which train calls it keeps and what its report says it left out."""

from __future__ import annotations

from llm2slm.training.budget import apply_token_budget, within_token_budget


def test_the_budget_keeps_the_first_calls_whose_tokens_times_epochs_fit():
    assert within_token_budget([100, 100, 100, 100], epochs=2, max_tokens=600) == 3  # 3 x 100 x 2 = 600
    assert within_token_budget([100, 100, 100, 100], epochs=2, max_tokens=599) == 2
    assert within_token_budget([100, 100], epochs=1, max_tokens=None) == 2
    assert within_token_budget([500], epochs=2, max_tokens=10) == 1  # one call at least, and the report says so


def test_the_report_names_what_the_budget_left_out():
    rows = [{"id": f"c{i}"} for i in range(5)]
    kept, report = apply_token_budget(rows, [120, 80, 100, 90, 110], epochs=2, max_tokens=600)
    assert [r["id"] for r in kept] == ["c0", "c1", "c2"]
    assert (report.calls_kept, report.calls_available, report.tokens_per_epoch, report.tokens) == (3, 5, 300, 600)
    assert report.describe() == ("3 of 5 train calls, 600 tokens (300 x 2 epochs) within the budget of 600; "
                                 "2 calls left out by the budget")


def test_mixed_order_keeps_each_kind_in_its_share_of_every_prefix():
    from llm2slm.training.budget import mixed_order

    kinds = ["text"] * 6 + ["tool_call"] * 3  # the LLM's mix: a third of the calls are tool calls
    rows = [{"i": i} for i in range(9)]
    ordered = [r["i"] for r in mixed_order(rows, kinds)]
    assert ordered == [0, 6, 1, 2, 7, 3, 4, 8, 5]
    assert sorted(ordered) == list(range(9))
    assert [r["i"] for r in mixed_order(rows, ["text"] * 9)] == list(range(9))  # one kind: the order is kept
    assert mixed_order([], []) == []
