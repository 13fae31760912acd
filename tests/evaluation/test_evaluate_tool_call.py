"""A tool_call task evaluated end to end: the rows' offered tools reach the figures, the report and MLflow's."""

from __future__ import annotations

import json

import pytest

from llm2slm.common.config import EvaluateConfig
from llm2slm.discovery.split import to_example
from llm2slm.evaluation.evaluate import evaluate_specialist
from llm2slm.evaluation.report import render_markdown
from tests.evaluation.test_tool_metrics import PREDICTED, TOOLS
from tests.factories import make_record


class FixedAnswers:
    """A specialist answering the i-th row of a batch with the answer its user text names, confidence 0.9."""

    def __init__(self, answers: dict[str, str]):
        self.answers = answers

    def predict_rows(self, rows):
        return [self.answers[row["messages"][-1]["content"]] for row in rows]

    def predict_with_confidence(self, rows):
        return [(answer, 0.9) for answer in self.predict_rows(rows)]


def _rows() -> list[dict]:
    """The five calls of test_tool_metrics as captured records of an agent offering book and pay."""
    tool_calls = [[{"name": "book", "arguments": {"day": "mon", "people": 2}}],
                  [{"name": "book", "arguments": {"day": "mon"}}, {"name": "pay", "arguments": {"eur": 5}}],
                  None, [{"name": "pay", "arguments": {"eur": 5}}], None]
    texts = [None, None, "Your card arrives on monday", None, "Hello, how can I help?"]
    return [to_example(make_record(i, f"user {i}", answer=texts[i] or "", tools=TOOLS, tool_calls=tool_calls[i]))
            for i in range(5)]


def test_evaluate_passes_the_offered_tools_and_reports_the_counts():
    rows = _rows()
    specialist = FixedAnswers({f"user {i}": PREDICTED[i] for i in range(5)})
    result = evaluate_specialist("task-07", specialist, rows, "tool_call", EvaluateConfig(latency_calls=2), {},
                                 candidate="tiny-generator")
    m = result.figures()  # what track-evaluate logs to MLflow
    assert m["decision_accuracy"] == pytest.approx(3 / 5) and m["tool_call_valid"] == pytest.approx(2 / 3)
    assert m["function_name_accuracy"] == pytest.approx(2 / 3) and m["argument_accuracy"] == pytest.approx(3 / 5)
    assert (m["n_calls"], m["n_tool_calls"], m["n_text"], m["n_predicted_tool_calls"]) == (5, 3, 2, 3)
    assert json.loads(rows[1]["answer"])[1] == {"arguments": {"eur": 5}, "name": "pay"}  # canonical reference
    text = render_markdown("task-07", "book and pay", [result], "tiny-generator", "agreement")
    # agreement 2/5; non-majority 1/4 (every answer once: the first is the majority); then the figures above
    assert ("| candidate | agreement | agreement_non_majority | decision_accuracy | function_name_accuracy | "
            "argument_exact_match | argument_accuracy | tool_call_valid | text_rouge_l | text_similarity |") in text
    assert "| tiny-generator | 0.400 | 0.250 | 0.600 | 0.667 | 0.333 | 0.600 | 0.667 | 0.500 | 0.500 |" in text
    assert "| tiny-generator | 5 | 3 | 5 | 2 | 3 |" in text
