import pytest

from llm2slm.evaluation.agreement import agreement, answers_agree


def test_json_answers_compare_by_value_and_tool_calls_in_any_order():
    assert answers_agree('{"intent": "transfer"}', '{ "intent":"transfer" }')
    assert not answers_agree('{"intent": "transfer"}', '{"intent": "balance"}')
    a = '[{"name": "f", "arguments": {"x": 1}}, {"name": "g", "arguments": {}}]'
    b = '[{"name": "g", "arguments": {}}, {"name": "f", "arguments": {"x": 1}}]'
    assert answers_agree(a, b)
    assert answers_agree(" Card_Arrival ", "card_arrival")
    assert not answers_agree('{"intent": "transfer"', '{"intent": "transfer"}')


def test_agreement_share_and_length_check():
    assert agreement(["a", "b", "c", "d"], ["a", "b", "x", "y"]) == 0.5
    with pytest.raises(ValueError):
        agreement(["a"], ["a", "b"])
