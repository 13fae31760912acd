"""A specialist's answers with its confidence: the answers are `predict_rows`', the confidences in [0, 1] and
equal to the figure each kind defines, on real (small, untrained) models."""

from __future__ import annotations

import json

import pytest
import torch

from llm2slm.serving.specialist import Specialist, greedy_confidence
from tests.training.slot_rows import slot_rows


def test_greedy_confidence_is_the_least_chosen_token_probability_up_to_the_end_token():
    probabilities = torch.tensor([[[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]],  # row 0: token 0 (0.5), then 2 = end (0.8)
                                  [[0.2, 0.7, 0.1], [0.6, 0.3, 0.1]]])  # row 1: token 1 (0.7), then 1 (0.3)
    scores = [probabilities[:, step].log() for step in range(2)]  # logits whose softmax is the row above
    generated = torch.tensor([[0, 2, 2], [1, 1, 0]])  # row 0 is padded with the end token after it ends
    assert greedy_confidence(scores, generated, eos_id=2) == pytest.approx([0.5, 0.3])
    ended_at_once = [torch.tensor([[0.1, 0.1, 0.8]]).log(), torch.tensor([[0.9, 0.05, 0.05]]).log()]
    assert greedy_confidence(ended_at_once, torch.tensor([[2, 2]]), eos_id=2) == pytest.approx([0.8])
    assert greedy_confidence([], torch.zeros((2, 0), dtype=torch.long), eos_id=2) == [1.0, 1.0]


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return slot_rows(12, 5)


@pytest.mark.slow  # builds and loads a MiniLM classifier: ~20 s on a loaded 2-core machine
def test_a_classifier_s_confidence_is_its_softmax_probability_of_the_label(tmp_path, rows):
    from llm2slm.training.models import build_classifier, save_specialist
    from llm2slm.training.recipe import Recipe

    recipe = Recipe(kind="classifier", base_model="all-MiniLM-L6-v2", method="full", labels=["a", "b", "c"],
                    max_length=32)
    model, tokenizer = build_classifier(recipe)
    specialist = Specialist.load(save_specialist(model, tokenizer, recipe, tmp_path / "model"))
    answered = specialist.predict_with_confidence(rows)
    assert [a for a, _ in answered] == specialist.predict_rows(rows)
    assert all(a in ("a", "b", "c") and 1 / 3 <= c <= 1 for a, c in answered)  # the max of 3 probabilities
    with torch.no_grad():
        from llm2slm.training.prompts import classifier_input_text

        batch = specialist.tokenizer([classifier_input_text(r["messages"]) for r in rows[:3]], padding=True,
                                     truncation=True, max_length=32, return_tensors="pt")
        expected = specialist.model(**dict(batch)).softmax(-1).max(-1).values.tolist()
    assert [c for _, c in answered[:3]] == pytest.approx(expected, abs=1e-5)
    [(alone, confidence)] = specialist.predict_with_confidence(rows[:1])  # alone (as the router asks) or batched
    assert alone == answered[0][0] and confidence == pytest.approx(answered[0][1], abs=1e-5)


@pytest.mark.slow  # builds and loads a MiniLM span tagger
def test_a_span_tagger_s_confidence_is_its_least_word_tag_probability(tmp_path, rows):
    from llm2slm.training.models import save_specialist
    from llm2slm.training.recipe import Recipe
    from llm2slm.training.spans import deciding_tokens
    from llm2slm.training.tagger import build_span_tagger, encode_for_tagging, token_offsets

    fields = ["date", "first_name", "last_name", "people", "time"]
    recipe = Recipe(kind="span_tagger", base_model="all-MiniLM-L6-v2", method="full", fields=fields, max_length=48)
    model, tokenizer = build_span_tagger(recipe)
    specialist = Specialist.load(save_specialist(model, tokenizer, recipe, tmp_path / "model"))
    answered = specialist.predict_with_confidence(rows)
    assert [a for a, _ in answered] == specialist.predict_rows(rows)
    assert all(isinstance(json.loads(a), dict) and 0 <= c <= 1 for a, c in answered)
    with torch.no_grad():
        batch, texts = encode_for_tagging(specialist.tokenizer, rows, 48)
        inputs = {k: v for k, v in batch.items() if k != "offset_mapping"}
        best = specialist.model(**inputs).softmax(-1).max(-1).values
    for i, text in enumerate(texts):
        words = deciding_tokens(token_offsets(batch, i), text)
        assert words and answered[i][1] == pytest.approx(float(best[i, words].min()), abs=1e-5)
        assert answered[i][1] <= min(float(best[i, j]) for j in words) + 1e-6


def test_a_generator_s_confidence_bounds_its_greedy_answer(rows):
    from llm2slm.training.tiny import build_tiny_llama, train_tiny_tokenizer

    tokenizer = train_tiny_tokenizer([m["content"] for r in rows for m in r["messages"]] + [r["answer"] for r in rows],
                                     vocab_size=400)
    specialist = Specialist(build_tiny_llama(tokenizer, seed=3), tokenizer,
                            {"kind": "generator", "max_length": 160, "max_new_tokens": 6})
    answered = specialist.predict_with_confidence(rows[:4])
    assert [a for a, _ in answered] == specialist.predict_rows(rows[:4])
    assert all(0 < c <= 1 for _, c in answered)
    assert len({c for _, c in answered}) > 1  # a figure of each answer, not a constant
