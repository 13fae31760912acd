import json

import numpy as np
import pyarrow.parquet as pq

from llm2slm.discovery.catalogue import (Catalogue, Exemplar, TaskEntry, plot_tasks, read_assignments, read_catalogue,
                                         write_assignments, write_catalogue)
from llm2slm.discovery.naming import ctfidf_keywords, exemplar_rows, schema_name, shorten, task_name


def test_ctfidf_prefers_words_that_are_frequent_here_and_rare_elsewhere():
    docs = ["refund refund refund order order late", "flight flight paris order", "weather weather rain order"]
    keywords = ctfidf_keywords(docs, 2)
    assert keywords[0][0] == "refund" and keywords[1][0] == "flight" and keywords[2][0] == "weather"
    assert all("order" not in k[:1] for k in keywords)
    assert ctfidf_keywords(["the and of", "a an the"], 3) == [[], []]
    assert ctfidf_keywords([], 3) == []


def test_placeholders_and_numbers_are_not_keywords():
    (words,) = ctfidf_keywords(["reach me at <PHONE_1> or <EMAIL_2>, order 12345 arrived broken"], 10)
    assert not any(ch.isdigit() for w in words for ch in w)
    assert "phone" not in words and "email" not in words
    assert {"order", "arrived", "broken", "reach"} <= set(words)


def test_names_say_what_the_answers_are():
    intents = [json.dumps({"intent": f"i{n % 151}"}) for n in range(600)]
    assert schema_name(intents, [], "closed_label", 151) == "classify intent (151 labels)"
    assert schema_name(["card_arrival", "top_up"] * 40, [], "closed_label", 77) == "classify into 77 labels"
    slots = [json.dumps({"people": "2", "date": "today", "time": "7pm", "first_name": "Ann", "last_name": "Li"})] * 5
    slots += [json.dumps({"people": "4"})] * 5
    assert schema_name(slots, [], "json_spans", 6) == "extract people, date, time and 2 more fields -> JSON"
    calls = [["get_weather"], ["find_recipe", "get_weather"]] * 10
    assert schema_name(["[]"] * 20, calls, "tool_call", 20) == "call get_weather, find_recipe"
    many = [[f"tool_{n}"] for n in range(40)]
    assert schema_name(["[]"] * 40, many, "tool_call", 40) == "call tools (40 functions)"
    assert schema_name(["Sure, here it is."], [], "free_text", 1) == "answer in text"
    assert schema_name([], [], "free_text", 0) is None


def test_names_and_exemplars():
    assert task_name(["card", "pin", "blocked", "atm"], "task-00") == "card-pin-blocked"
    assert task_name([], "task-03") == "task-03"
    vectors = np.array([[0.0, 0.0], [1.0, 0.0], [10.0, 0.0], [0.5, 0.0], [0.4, 0.1]])
    assert exemplar_rows(vectors, np.array([0, 1, 3, 4])) == [3, 4, 0]  # centroid (0.475, 0.025)
    assert exemplar_rows(vectors, np.array([], dtype=int)) == []
    texts = ["a", "b", "c", "same", "same"]
    assert exemplar_rows(vectors, np.array([0, 1, 3, 4]), 3, texts) == [3, 0, 1]
    assert shorten("abc", 5) == "abc" and shorten("abcdefgh", 5) == "abcd…"


def _catalogue() -> Catalogue:
    entry = TaskEntry(task_id="task-00", name="a-b-c", keywords=["a", "b", "c"], size=2,
                      exemplars=[Exemplar(id="x", text="t")], output_shape="json", n_distinct_answers=2,
                      tokens={"request": {"p50": 1, "p90": 2, "p99": 3}, "answer": {"p50": 1, "p90": 1, "p99": 1}})
    return Catalogue(tasks=[entry], n_calls=3, n_outliers=1, params={"seed": 13, "max_chars": 600})


def test_the_catalogue_is_stable_sorted_json(tmp_path):
    write_catalogue(_catalogue(), tmp_path / "c.json")
    text = (tmp_path / "c.json").read_text()
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert read_catalogue(tmp_path / "c.json") == _catalogue()


def test_assignments_are_sorted_by_id(tmp_path):
    write_assignments(["b", "a", "c"], ["task-00", "none", "task-00"], np.array([0.5, 0.0, 1.0]), tmp_path / "a.pq")
    table = pq.read_table(tmp_path / "a.pq")
    assert table.column("id").to_pylist() == ["a", "b", "c"]
    assert table.column("probability").to_pylist() == [0.0, 0.5, 1.0]
    assert read_assignments(tmp_path / "a.pq") == {"a": "none", "b": "task-00", "c": "task-00"}


def test_the_scatter_is_a_png(tmp_path):
    coords = np.random.default_rng(0).normal(size=(30, 2))
    plot_tasks(coords, ["task-00"] * 20 + ["none"] * 10, tmp_path / "c.png", "title")
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    assert [p.name for p in tmp_path.iterdir()] == ["c.png"]
