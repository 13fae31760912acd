"""The champion's re-evaluation core: answers from the cache by call id and request, only the rest predicted."""

from __future__ import annotations

import pytest

from llm2slm.evaluation.answer_cache import AnswerCache
from llm2slm.evaluation.champion import reevaluate
from tests.factories import PlaceholderSpotter


class Counting(PlaceholderSpotter):
    """The placeholder spotter, counting the rows it is asked to answer."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def predict_rows(self, rows):
        self.asked += [row["id"] for row in rows]
        return super().predict_rows(rows)


def _row(i: int, text: str, answer: str) -> dict:
    return {"id": f"call-{i:06d}", "messages": [{"role": "user", "content": text}], "tools": None, "answer": answer}


ROWS = [_row(1, "mail <EMAIL_1>", "contact"), _row(2, "call me", "other"), _row(3, "mail <EMAIL_2>", "other")]


def test_a_cached_call_is_not_predicted_again_unless_its_request_changed(tmp_path):
    cache, spotter = AnswerCache(tmp_path / "cache"), Counting()
    first = reevaluate(spotter, "llm2slm-task-01", "3", ROWS, "closed_label", cache, majority="other")
    assert (first.n_cached, first.n_predicted) == (0, 3) and first.metrics["agreement"] == pytest.approx(2 / 3)
    assert first.metrics["agreement_non_majority"] == 1.0  # the one `contact` call
    changed = [*ROWS[:2], _row(3, "call me later", "other"), _row(4, "mail <EMAIL_3>", "contact")]
    spotter.asked.clear()
    second = reevaluate(spotter, "llm2slm-task-01", "3", changed, "closed_label", cache, majority="other")
    assert spotter.asked == ["call-000003", "call-000004"]  # the rescrubbed call and the new one
    assert (second.n_calls, second.n_cached, second.n_predicted) == (4, 2, 2) and second.metrics["agreement"] == 1.0
    other_version = reevaluate(spotter, "llm2slm-task-01", "4", ROWS[:1], "closed_label", cache)
    assert other_version.n_predicted == 1  # answers are kept per version


def test_the_cache_holds_only_plain_names():
    with pytest.raises(ValueError, match="answer cache"):
        AnswerCache("/tmp/x").file("../etc", "1")
