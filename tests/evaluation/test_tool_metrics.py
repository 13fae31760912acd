"""Generator figures of a tool_call task (tool calls and text replies mixed), counted by hand."""

from __future__ import annotations

import json

import pytest

from llm2slm.evaluation.metrics import shape_metrics
from llm2slm.evaluation.tool_metrics import call_problem, tool_call_metrics
from llm2slm.training.prompts import tool_calls_text

BOOK = {"type": "object", "properties": {"day": {"type": "string", "enum": ["mon", "tue"]},
                                         "people": {"type": "integer"}}, "required": ["day"]}
PAY = {"type": "object", "properties": {"eur": {"type": "number"}}, "required": ["eur"]}
TOOLS = [{"type": "function", "function": {"name": "book", "parameters": BOOK}},
         {"type": "function", "function": {"name": "pay", "parameters": PAY}}]


def calls(*pairs: tuple[str, dict]) -> str:
    """The LLM's canonical answer for these calls (what a task's rows hold)."""
    return tool_calls_text([{"function": {"name": n, "arguments": json.dumps(a)}} for n, a in pairs])


REFERENCE = [calls(("book", {"day": "mon", "people": 2})),  # 2 (function, argument, value) triples
             calls(("book", {"day": "mon"}), ("pay", {"eur": 5})),  # 2 triples
             "Your card arrives on monday",
             calls(("pay", {"eur": 5})),  # 1 triple
             "Hello, how can I help?"]
PREDICTED = ['[{"name": "book", "arguments": {"people": 2, "day": "mon"}}]',  # same call, keys in another order
             '[{"name": "pay", "arguments": {"eur": 5}}, {"name": "book", "arguments": {"day": "tue"}}]',
             "Your card arrives on monday",  # the same text reply
             "I will pay now",  # text where the LLM called pay
             '[{"name": "refund", "arguments": {"x": 1}}]']  # a tool call (to a tool not offered) where it replied


def test_tool_call_figures_over_calls_and_text_replies_equal_the_hand_counts():
    m = shape_metrics("tool_call", PREDICTED, REFERENCE, [TOOLS] * 5)
    assert m["n_calls"] == 5 and m["n_tool_calls"] == 3 and m["n_text"] == 2 and m["n_arguments"] == 5
    assert m["agreement"] == pytest.approx(2 / 5)  # calls 0 and 2
    assert m["decision_accuracy"] == pytest.approx(3 / 5)  # 3 and 4 chose wrongly
    assert m["function_name_accuracy"] == pytest.approx(2 / 3)  # 0 and 1 (order-free); 3 is text
    assert m["argument_exact_match"] == pytest.approx(1 / 3)  # 0 only: 1 books tuesday
    assert m["argument_accuracy"] == pytest.approx(3 / 5)  # 2 of 2, 1 of 2 (eur 5), 0 of 1
    assert m["n_predicted_tool_calls"] == 3 and m["tool_call_valid"] == pytest.approx(2 / 3)  # refund not offered
    assert m["text_rouge_l"] == pytest.approx(0.5) and m["text_similarity"] == pytest.approx(0.5)  # 1, then 0


def test_without_offered_tools_there_is_no_validity_and_empty_subsets_give_no_figure():
    m = tool_call_metrics(["hi", "[]"], ["hello", "bye"])
    assert "tool_call_valid" not in m and m["n_predicted_tool_calls"] == 1  # "[]" reads as a (bad) tool call
    call_figures = {"function_name_accuracy", "argument_exact_match", "argument_accuracy"}
    assert m["n_tool_calls"] == 0 and not call_figures & set(m)
    assert m["decision_accuracy"] == pytest.approx(1 / 2) and m["text_rouge_l"] == 0.0
    only_calls = tool_call_metrics([REFERENCE[3]], [REFERENCE[3]], [TOOLS])
    assert only_calls["n_text"] == 0 and "text_similarity" not in only_calls and only_calls["tool_call_valid"] == 1.0
    assert tool_call_metrics(["no tool"], [REFERENCE[3]], [TOOLS])["tool_call_valid"] == 1.0  # made none
    with pytest.raises(ValueError, match="1 rows of offered tools for 2 references"):
        tool_call_metrics(["a", "b"], ["a", "b"], [TOOLS])


def test_arguments_sent_as_a_json_string_match_but_are_not_valid_for_the_router():
    as_string = '[{"name": "pay", "arguments": "{\\"eur\\": 5}"}]'
    m = tool_call_metrics([as_string], [REFERENCE[3]], [TOOLS])
    assert m["argument_exact_match"] == 1.0 and m["argument_accuracy"] == 1.0 and m["tool_call_valid"] == 0.0
    assert call_problem(as_string, TOOLS) == "the arguments of 'pay' are not a JSON object"


@pytest.mark.parametrize(("answer", "tools", "problem"), [
    ('[{"name": "book", "arguments": {"day": "wed"}}]', TOOLS, "arguments of 'book' off its schema: 'wed' is not "
                                                               "one of ['mon', 'tue']"),
    ('[{"name": "book", "arguments": {"people": 2}}]', TOOLS, "arguments of 'book' off its schema: 'day' is a "
                                                             "required property"),
    ('[{"name": "book", "arguments": {"day": "mon"}}]', None, "tool 'book' was not offered"),
    ('[{"name": "book"', TOOLS, "not a non-empty JSON list"),
    ('[{"arguments": {}}]', TOOLS, "a tool call is not an object with a string 'name'"),
    ('[{"name": "f", "arguments": {}}]', [{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": []}}}], "the tool's parameters are not a valid JSON Schema: [] is not of "
                                                "type 'object'"),
])
def test_a_tool_call_answer_the_router_would_refuse_says_why(answer, tools, problem):
    assert call_problem(answer, tools) == problem


def test_a_schema_reference_that_does_not_resolve_is_a_problem_not_a_crash():
    tools = [{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}}}}]
    problem = call_problem('[{"name": "f", "arguments": {"a": 1}}]', tools)
    assert problem is not None and problem.startswith("the tool's schema has a reference that does not resolve")
    assert call_problem('[{"name": "book", "arguments": {"day": "tue", "people": 4}}]', TOOLS) is None


def test_text_similarity_is_the_cosine_of_the_packaged_embeddings():
    from llm2slm.discovery.embed import embed_texts

    predicted, reference = ["the card arrives on monday", "same words"], ["your card comes monday", "same words"]
    a, b = embed_texts([predicted[0], reference[0]], progress=False)
    m = shape_metrics("free_text", predicted, reference)
    assert 0.3 < float(a @ b) < 1.0  # a paraphrase: close, not the same
    assert m["text_similarity"] == pytest.approx((float(a @ b) + 1.0) / 2, abs=1e-6)
    assert m["rouge_l"] == pytest.approx((2 * (2 / 5) * (2 / 4) / (2 / 5 + 2 / 4) + 1.0) / 2)  # LCS: card monday
