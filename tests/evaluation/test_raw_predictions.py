"""The raw figure predicts again only the captured requests that scrubbing changed."""

from __future__ import annotations

from llm2slm.evaluation.evaluate import _request_key, raw_predictions


class CountingEcho:
    """Answers each request with its last message's text, counting the requests it was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def predict_rows(self, rows):
        texts = [row["messages"][-1]["content"] for row in rows]
        self.asked += texts
        return [f"echo {t}" for t in texts]


def test_only_the_rows_scrubbing_changed_are_predicted_again():
    scrubbed_rows = [{"messages": [{"role": "user", "content": "book for 2"}], "tools": None},
                     {"messages": [{"role": "user", "content": "I'm Alex Brown, book for 3"}], "tools": None}]
    scrubbed = {_request_key(scrubbed_rows[0]): "echo book for 2",
                _request_key({"messages": [{"role": "user", "content": "I'm Sam Lee, book for 3"}], "tools": None}):
                "echo I'm Sam Lee, book for 3"}
    echo = CountingEcho()
    answers = raw_predictions(echo, scrubbed_rows, scrubbed)
    assert answers == ["echo book for 2", "echo I'm Alex Brown, book for 3"]
    assert echo.asked == ["I'm Alex Brown, book for 3"]  # the unchanged request was not generated twice


def test_rouge_scoring_prints_no_library_lines(capfd, caplog):
    import logging

    from llm2slm.evaluation.text_metrics import rouge_l_scores

    caplog.set_level(logging.INFO)
    assert rouge_l_scores(["the cat sat"], ["the cat sat"]) == [1.0]
    assert rouge_l_scores(["a b"], ["c d"]) == [0.0]
    assert not [r for r in caplog.records if r.name == "absl"] and "default tokenizer" not in capfd.readouterr().err
