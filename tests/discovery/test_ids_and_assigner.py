"""Task ids across runs and the assigner's decisions, on hand-made vectors (no encoder, no UMAP)."""

from __future__ import annotations

import numpy as np
import pytest

from llm2slm.discovery.assigner import fit_assigner, load_assigner
from llm2slm.discovery.ids import Registry, assign_ids, read_registry, write_registry
from llm2slm.discovery.report import render_report
from llm2slm.discovery.catalogue import Catalogue, Exemplar, TaskEntry
from tests.discovery.synthetic import trace

MODEL = "all-MiniLM-L6-v2"


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_ids_follow_size_rank_on_a_first_run():
    centroids = _unit(np.eye(3, 8))
    ids, registry = assign_ids(centroids, ["a", "b", "c"], [30, 20, 10], Registry(), MODEL, 0.9)
    assert ids == ["task-00", "task-01", "task-02"]
    assert registry.next_id == 3 and [t.size for t in registry.tasks] == [30, 20, 10]


def test_a_matched_task_keeps_its_id_a_new_one_gets_the_next_and_ids_are_never_reused():
    first, registry = assign_ids(_unit(np.eye(3, 8)), ["a", "b", "c"], [30, 20, 10], Registry(), MODEL, 0.9)
    # the second run: task b has grown into the largest, a has moved a little, c is gone, two new tasks appear
    moved_a = _unit(np.array([[1.0, 0.1, 0, 0, 0, 0, 0, 0]]))
    second_run = np.vstack([np.eye(8)[1:2], moved_a, np.eye(8)[5:6], np.eye(8)[6:7]])
    ids, updated = assign_ids(second_run, ["b", "a", "new1", "new2"], [50, 40, 5, 4], registry, MODEL, 0.9)
    assert ids == ["task-01", "task-00", "task-03", "task-04"]
    assert updated.next_id == 5
    assert [t.task_id for t in updated.tasks] == ["task-00", "task-01", "task-02", "task-03", "task-04"]
    assert updated.tasks[2].size == 10, "a task absent from this run keeps its entry"
    assert updated.tasks[0].centroid == pytest.approx(list(moved_a[0]), abs=1e-6)


def test_a_centroid_under_the_threshold_is_a_new_task():
    _, registry = assign_ids(_unit(np.eye(2, 4)), ["a", "b"], [5, 5], Registry(), MODEL, 0.9)
    halfway = _unit(np.array([[1.0, 1.0, 0, 0]]))  # cosine 0.71 with both
    ids, _ = assign_ids(halfway, ["c"], [9], registry, MODEL, 0.9)
    assert ids == ["task-02"]


def test_two_new_tasks_cannot_take_one_old_id():
    _, registry = assign_ids(_unit(np.eye(1, 4)), ["a"], [5], Registry(), MODEL, 0.5)
    twins = _unit(np.array([[1.0, 0.05, 0, 0], [1.0, 0.0, 0.05, 0]]))
    ids, _ = assign_ids(twins, ["a1", "a2"], [5, 5], registry, MODEL, 0.5)
    assert sorted(ids) == ["task-00", "task-01"]


def test_another_embedding_model_matches_nothing(caplog):
    _, registry = assign_ids(_unit(np.eye(2, 4)), ["a", "b"], [5, 5], Registry(), MODEL, 0.9)
    ids, _ = assign_ids(_unit(np.eye(2, 4)), ["a", "b"], [5, 5], registry, "other-model", 0.9)
    assert ids == ["task-02", "task-03"] and "no task can be matched" in caplog.text


def test_the_registry_file_round_trips_with_stable_bytes(tmp_path):
    _, registry = assign_ids(_unit(np.random.default_rng(0).normal(size=(3, 16))), ["a", "b", "c"], [3, 2, 1],
                             Registry(), MODEL, 0.9)
    write_registry(registry, tmp_path / "r.json")
    again = read_registry(tmp_path / "r.json")
    write_registry(again, tmp_path / "r2.json")
    assert (tmp_path / "r.json").read_bytes() == (tmp_path / "r2.json").read_bytes()
    assert read_registry(tmp_path / "absent.json") == Registry()
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="bad.json: not a task-id registry"):
        read_registry(tmp_path / "bad.json")


def _fitted(tmp_path):
    records, key = trace({"triage": 60, "extract": 40}, seed=4)
    rng = np.random.default_rng(0)
    centres = {"triage": np.eye(16)[0], "extract": np.eye(16)[1]}
    embeddings = _unit(np.array([centres[key[r.id]] + rng.normal(0, 0.05, 16) for r in records]))
    task_ids = ["task-00" if key[r.id] == "triage" else "task-01" for r in records]
    assigner = fit_assigner(embeddings, records, task_ids, MODEL, 600, coverage=0.99)
    assigner.save(tmp_path / "assigner")
    return load_assigner(tmp_path / "assigner"), records, embeddings


def test_the_assigner_places_members_and_rejects_far_or_foreign_calls(tmp_path):
    assigner, records, embeddings = _fitted(tmp_path)
    placed = assigner.assign_embeddings(embeddings, records)
    expected = ["task-00" if "triage" in r.system_prompt() else "task-01" for r in records]
    assert sum(p[0] == e for p, e in zip(placed, expected, strict=True)) >= 0.97 * len(records)
    assert all(0.0 <= c <= 1.0 for _, c in placed)
    far = _unit(np.eye(16)[5:6])
    assert assigner.assign_embeddings(far, records[:1]) == [("none", 1.0)]
    # near the triage centroid in content, but the system prompt is another agent's: the structural gate says no
    foreign = records[0].model_copy(deep=True)
    foreign.messages[0].content = "You are a translation engine. Translate the user's text into French."
    task, confidence = assigner.assign_embeddings(embeddings[:1], [foreign])[0]
    assert task == "none" and confidence == 1.0
    assert assigner.gated == [True, True]


def test_the_assigner_files_have_no_pickles_and_stable_bytes(tmp_path):
    assigner, _, _ = _fitted(tmp_path)
    first = (tmp_path / "assigner.npz").read_bytes()
    assigner.save(tmp_path / "again")
    assert (tmp_path / "again.npz").read_bytes() == first
    with np.load(tmp_path / "assigner.npz", allow_pickle=False) as arrays:
        assert set(arrays.files) == {"centroids", "percentiles", "thresholds"}
    with pytest.raises(FileNotFoundError, match="run the cluster stage"):
        load_assigner(tmp_path / "missing")


def test_the_report_lists_each_task_and_escapes_text():
    task = TaskEntry(task_id="task-00", name="refund-order", keywords=["refund", "order"], size=30,
                     exemplars=[Exemplar(id="call-1", text="<script>x</script> refund please")],
                     output_shape="closed_label", n_distinct_answers=4,
                     tokens={"request": {"p50": 10, "p90": 20, "p99": 30}, "answer": {"p50": 1, "p90": 2, "p99": 3}})
    page = render_report(Catalogue(tasks=[task], n_calls=40, n_outliers=10, params={"seed": 13}), b"\x89PNG")
    assert "refund-order" in page and "closed_label" in page and "75.0%" in page and "25.0%" in page
    assert "<script>x" not in page and "&lt;script&gt;" in page
    assert "data:image/png;base64," in page and "request 10 / 20 / 30" in page


def _agents(tmp_path):
    """Two tool agents with one system prompt and their own tools (weather, recipes), and a benchmark of function
    calling (its own prompt) whose every call offers other functions."""
    records, key = trace({"tools": 120}, seed=5)
    for i, record in enumerate(records):
        tool = record.tools[0]
        if i % 3 == 2:  # the benchmark: 40 calls, two functions of their own each
            names = [f"fn_{i}_{j}" for j in range(2)]
            record.messages[0].content = "You are a function-calling benchmark. Call one of the functions."
            key[record.id] = "bench"
        else:
            names = ["get_weather" if i % 3 == 0 else "find_recipe"]
            key[record.id] = names[0]
        record.tools = [tool.model_copy(update={"function": tool.function.model_copy(update={"name": n})})
                        for n in names]
    rng = np.random.default_rng(1)
    centres = {"get_weather": np.eye(16)[0], "find_recipe": np.eye(16)[0] * 0.9 + np.eye(16)[1] * 0.1,
               "bench": np.eye(16)[2]}
    embeddings = _unit(np.array([centres[key[r.id]] + rng.normal(0, 0.05, 16) for r in records]))
    ids = {"get_weather": "task-00", "find_recipe": "task-01", "bench": "task-02"}
    assigner = fit_assigner(embeddings, records, [ids[key[r.id]] for r in records], MODEL, 600, coverage=0.99)
    assigner.save(tmp_path / "assigner")
    return load_assigner(tmp_path / "assigner"), records, key, ids


def test_agents_sharing_a_system_prompt_are_told_apart_by_their_tools(tmp_path):
    assigner, records, key, ids = _agents(tmp_path)
    assert assigner.tools[:2] == [frozenset({"get_weather"}), frozenset({"find_recipe"})]
    assert assigner.tools[2] == frozenset(), "a task whose tools change per call has no fixed tool set"
    assert assigner.exclusive == [True, True, True]  # the benchmark by its own prompt, the agents by their tools
    assert [assigner.by_structure(r) for r in records] == [ids[key[r.id]] for r in records]
    # a weather call offered the recipe tool is the recipe agent's, whatever its words say
    moved = records[0].model_copy(deep=True)
    moved.tools = [t for r in records if key[r.id] == "find_recipe" for t in r.tools][:1]
    assert assigner.by_structure(moved) == "task-01"


def test_an_assigner_saved_without_tool_sets_still_loads_and_places(tmp_path):
    import json

    assigner, records, key, ids = _agents(tmp_path)
    meta = json.loads((tmp_path / "assigner.json").read_text())
    del meta["tools"]
    (tmp_path / "old.json").write_text(json.dumps(meta))
    (tmp_path / "old.npz").write_bytes((tmp_path / "assigner.npz").read_bytes())
    old = load_assigner(tmp_path / "old")
    assert old.tools == [] and old.gates(records[0]) == [True, True, False]  # both agents' gates: as before
    assert old.by_structure(records[0]) is None and assigner.by_structure(records[0]) == "task-00"


def test_a_call_structure_places_is_not_claimed_by_a_loose_task_of_mixed_calls(tmp_path):
    """The routing check places calls as the router does: a triage call whose words drifted towards a loose task
    (two agents' calls, so no gate of its own) is still the triage task's when only the triage gate admits it."""
    from llm2slm.discovery.run import routing_confusion

    records, key = trace({"triage": 60, "extract": 20, "tools": 20}, seed=6)
    rng = np.random.default_rng(2)
    loose = [r for r in records if key[r.id] != "triage"]
    spread = {r.id: np.eye(16)[1] * (1 - i / len(loose)) + np.eye(16)[2] * (i / len(loose))
              for i, r in enumerate(loose)}  # the loose task's calls span a wide arc
    embeddings = _unit(np.array([spread[r.id] + rng.normal(0, 0.02, 16) if r.id in spread
                                 else np.eye(16)[0] + rng.normal(0, 0.05, 16) for r in records]))
    task_ids = ["task-00" if key[r.id] == "triage" else "task-01" for r in records]
    drifted = [i for i, r in enumerate(records) if key[r.id] == "triage"][:6]
    for i in drifted:  # their content now sits closer to the loose task than to the triage calls
        embeddings[i] = _unit((np.eye(16)[0] * 0.3 + np.eye(16)[1] + np.eye(16)[2])[None, :])[0]
    assigner = fit_assigner(embeddings, records, task_ids, MODEL, 600, coverage=0.99)
    assert assigner.gated == [True, False] and assigner.exclusive == [True, False]
    by_content = [t for t, _ in assigner.assign_embeddings(embeddings, records)]
    assert [by_content[i] for i in drifted] == ["task-01"] * 6
    assert routing_confusion(task_ids, by_content) == {("task-00", "task-01"): 0.1}
    placed = assigner.assign_embeddings(embeddings, records, by_structure=True)
    assert [placed[i] for i in drifted] == [("task-00", 1.0)] * 6
    assert routing_confusion(task_ids, [t for t, _ in placed]) == {}
