"""Span tagging pieces: where the LLM's JSON values sit in the request, BIO labels, and rendering back to JSON."""

from __future__ import annotations

import json

import pytest

from llm2slm.training.recipe import Recipe, recipe_for, task_stats_from_rows
from llm2slm.training.spans import (
    AnswerStyle,
    answer_style,
    decode_tags,
    field_order,
    locate_spans,
    render_answer,
    tag_rows,
    tagger_inputs,
)
from tests.training.slot_rows import slot_rows

FIELDS = ["date", "people", "time"]


def test_field_order_follows_the_llm():
    assert field_order(['{"time": "7pm", "date": "Friday"}', '{"people": "4", "time": "8"}', "{}"]) == [
        "people", "time", "date"]
    assert field_order(['{"b": "1", "c": "2"}', '{"a": "1", "c": "2"}']) == ["a", "b", "c"]  # always sorted
    assert field_order(["{}", "not json", '["a"]']) is None


def test_values_are_found_exactly_then_in_any_case_whole_words_first():
    text = "Table on the 14th for 4 at 7pm, Friday"
    spans = locate_spans(text, {"people": "4", "time": "7pm", "date": "friday"}, FIELDS)
    assert [(text[s:e], FIELDS[f]) for s, e, f in spans] == [("4", "people"), ("7pm", "time"), ("Friday", "date")]
    assert locate_spans(text, {"people": "5"}, FIELDS) is None
    assert locate_spans(text, {"room": "4"}, FIELDS) is None  # a key outside the fields


def test_rows_whose_values_are_missing_are_skipped_and_counted():
    rows = [{"messages": [{"role": "assistant", "content": "How many?"}, {"role": "user", "content": "6 please"}],
             "answer": '{"people": "6"}'},
            {"messages": [{"role": "user", "content": "hello"}], "answer": "{}"},
            {"messages": [{"role": "user", "content": "for two"}], "answer": '{"people": "2"}'},
            {"messages": [{"role": "user", "content": "x"}], "answer": "no json"}]
    kept, skipped = tag_rows(rows, FIELDS)
    assert skipped == 2 and [r["spans"] for r in kept] == [[[0, 1, 1]], []]
    assert (kept[0]["text"], kept[0]["context"]) == ("6 please", "How many?")
    assert tagger_inputs([{"role": "user", "content": "hi"}]) == ("hi", "")


def test_tags_render_the_llm_json_in_its_key_order_and_style():
    text = "Friday at 7pm for four of us"
    offsets = [(0, 6), (7, 9), (10, 13), (14, 17), (18, 22), (23, 25), (26, 28)]
    tags = [1, 0, 5, 0, 3, 4, 4]  # B-date O B-time O B-people I-people I-people
    spans = decode_tags(tags, offsets, len(FIELDS))
    style = AnswerStyle()
    assert render_answer(text, spans, FIELDS, style) == '{"date": "Friday", "people": "four of us", "time": "7pm"}'
    assert render_answer(text, {}, FIELDS, AnswerStyle(empty="{}")) == "{}"
    compact = answer_style(['{"people":"2"}', '{"people":"3","time":"8"}', "{}"], FIELDS)
    assert (compact.item_separator, compact.key_separator, compact.empty) == (",", ":", "{}")
    numeric = answer_style(['{"people": 2}', '{"people": 3}'], FIELDS)
    assert render_answer("for 4", {1: (4, 5)}, FIELDS, numeric) == '{"people": 4}'


def test_bio_labels_on_real_wordpiece_offsets():
    from transformers import AutoTokenizer

    from llm2slm.common.packaged import resolve_model
    from llm2slm.training.data import IGNORE
    from llm2slm.training.tagger import bio_labels, encode_for_tagging, token_offsets

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("all-MiniLM-L6-v2"))
    kept, _ = tag_rows([{"messages": [{"role": "assistant", "content": "Which day?"},
                                      {"role": "user", "content": "Next Friday for 9 people"}],
                         "answer": '{"date": "Next Friday", "people": "9 people"}'}], FIELDS)
    batch, texts = encode_for_tagging(tokenizer, kept, 32)
    offsets = token_offsets(batch, 0)
    labels = bio_labels(offsets, kept[0]["spans"])
    words = [texts[0][s:e] if e > s else None for s, e in offsets]
    tagged = [(w, t) for w, t in zip(words, labels, strict=True) if t != IGNORE]
    assert tagged == [("Next", 1), ("Friday", 2), ("for", 0), ("9", 3), ("people", 4)]
    assert labels.count(IGNORE) == len(labels) - 5  # [CLS], [SEP], the context segment


def test_span_tagger_recipe_needs_fields():
    stats = task_stats_from_rows(slot_rows(40, 1))
    assert stats.json_fields == ["date", "first_name", "last_name", "people", "time"]
    from llm2slm.training.catalogue import default_catalogue_path, find_candidate, load_catalogue

    candidate = find_candidate(load_catalogue(default_catalogue_path()), "minilm-span-tagger")
    recipe = recipe_for(candidate, stats)
    assert recipe.kind == "span_tagger" and recipe.fields == stats.json_fields and recipe.method == "lora"
    with pytest.raises(ValueError, match="fields"):
        Recipe(kind="span_tagger", base_model="all-MiniLM-L6-v2")
    with pytest.raises(ValueError, match="fields"):
        recipe_for(candidate, task_stats_from_rows([{"messages": [], "answer": a} for a in ("yes", "no")]))
    assert json.loads(slot_rows(1, 5)[0]["answer"]) is not None


def test_pieces_of_one_word_stay_in_the_span_of_its_first_piece():
    text = "under Weddel Sm, party of 2"
    offsets = [(0, 5), (6, 9), (9, 12), (13, 15), (15, 16), (17, 22), (23, 25), (26, 27)]
    tags = [0, 1, 3, 0, 5, 0, 0, 5]  # O B-date B-people ("del" of "Weddel") O B-time (the "," after "Sm") O O B-time
    assert decode_tags(tags, offsets, len(FIELDS)) == {0: (6, 9), 1: (9, 12), 2: (15, 16)}  # pieces as tagged
    words = decode_tags(tags, offsets, len(FIELDS), text)
    assert words == {0: (6, 12), 2: (15, 16)}  # "Weddel" whole; "," is no piece of "Sm"; the first time wins
    assert decode_tags([0, 1], [(0, 2), (2, 4)], len(FIELDS), "Weddel"[:4]) == {}  # a word whose first piece is O
