import numpy as np

from llm2slm.discovery.reduce import (enforce_outlier_budget, fit_rows, min_cluster_size_for, reassign_outliers,
                                     too_few_to_cluster)
from llm2slm.discovery.answers import call_form
from llm2slm.discovery.prompts import jaccard
from llm2slm.discovery.structure import CallShapes, merge_by_structure, rescue_by_structure, signature
from llm2slm.discovery.pipeline import rank_by_size
from tests.discovery.synthetic import trace
from tests.factories import make_record


def test_min_cluster_size_and_too_few():
    assert min_cluster_size_for(300, 0.01) == 10
    assert min_cluster_size_for(20_000, 0.01) == 200
    assert too_few_to_cluster(19, 10, 5) and too_few_to_cluster(31, 10, 30)
    assert not too_few_to_cluster(32, 10, 30)


def test_outliers_rejoin_only_a_near_cluster():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, (50, 2))
    b = rng.normal(20, 1, (50, 2))
    points = np.vstack([a, b, [[0.2, 0.1], [10.0, 10.0]]])
    labels = np.array([0] * 50 + [1] * 50 + [-1, -1])
    probabilities = np.array([0.9] * 100 + [0.0, 0.0])
    new, prob = reassign_outliers(points, labels, probabilities)
    assert new[100] == 0 and 0 < prob[100] <= 1
    assert new[101] == -1 and prob[101] == 0
    assert (new[:100] == labels[:100]).all() and labels[100] == -1  # the input is not changed


def test_the_outlier_budget_lets_the_nearest_outliers_join_first():
    rng = np.random.default_rng(1)
    points = np.vstack([rng.normal(0, 1, (45, 2)), rng.normal(30, 1, (45, 2)),
                        [[5.0, 5.0], [40.0, 40.0], [100.0, 0.0], [-60.0, -60.0], [12.0, 12.0],
                         [70.0, 70.0], [-9.0, 0.0], [0.0, 200.0], [33.0, 20.0], [-40.0, 3.0]]])
    labels = np.array([0] * 45 + [1] * 45 + [-1] * 10)
    probabilities = np.r_[np.full(90, 0.9), np.zeros(10)]
    new, prob = enforce_outlier_budget(points, labels, probabilities, budget=0.05)
    assert (new < 0).sum() == 5
    assert new[90] == 0 and new[91] == 1 and new[94] == 0 and new[96] == 0 and new[98] == 1
    assert (new[[92, 93, 95, 97, 99]] == -1).all()
    assert (prob[new >= 0][90:] <= 0.5).all() and (prob[new < 0] == 0).all()
    same, _ = enforce_outlier_budget(points, labels, probabilities, budget=0.2)
    assert (same == labels).all()


def test_umap_is_fitted_on_a_seeded_sample_of_the_rows():
    assert (fit_rows(5, 10, 0) == np.arange(5)).all()
    rows = fit_rows(1000, 100, 7)
    assert len(rows) == 100 and (np.diff(rows) > 0).all() and (rows == fit_rows(1000, 100, 7)).all()


def test_reassigning_without_clusters_changes_nothing():
    labels = np.array([-1, -1])
    new, _ = reassign_outliers(np.zeros((2, 2)), labels, np.zeros(2))
    assert (new == -1).all()


def test_signatures_see_through_template_variables():
    records, _ = trace({"triage": 40}, seed=0)
    sig = signature(np.arange(40), CallShapes.of(records))
    assert "triage" in sig.template and "acme" not in sig.template  # the shop name varies between calls
    assert sig.schema.form == "label" and sig.schema.labels == {"shipping_delay", "refund_request", "damaged_item",
                                                                  "wrong_size", "cancel_order"}
    assert not sig.offers_tools and sig.last_role == "user" and sig.family == -1
    tools, _ = trace({"tools": 10}, seed=0)
    tool_sig = signature(np.arange(10), CallShapes.of(tools))
    assert tool_sig.offers_tools and tool_sig.schema.form == "tools"
    assert call_form(make_record(1, "q", answer='{"a": 1}')) == ("json", frozenset({"a"}))
    assert jaccard(frozenset(), frozenset()) == 0.0


def test_content_clusters_of_one_structure_merge_and_outliers_are_rescued():
    records, key = trace({"triage": 40, "extract": 40, "tools": 20}, seed=0)
    kinds = [key[r.id] for r in records]
    # two content clusters per kind, and a few outliers
    labels = np.array([{"triage": 0, "extract": 2, "tools": 4}[k] + (i % 2) for i, k in enumerate(kinds)])
    labels[:5] = -1
    calls = CallShapes.of(records)
    merged = merge_by_structure(labels, calls)
    assert len(set(merged[merged >= 0])) == 3
    for kind in ("triage", "extract", "tools"):
        assert len({m for m, k in zip(merged, kinds) if k == kind and m >= 0}) == 1
    rescued = rescue_by_structure(merged, calls)
    assert (rescued >= 0).all()
    assert all(len({r for r, k in zip(rescued, kinds) if k == kind}) == 1 for kind in set(kinds))


def test_calls_without_a_system_prompt_are_never_merged_or_rescued():
    records = [make_record(i, f"question {i}", system="") for i in range(6)]
    labels = np.array([0, 0, 1, 1, -1, -1])
    calls = CallShapes.of(records)
    merged = merge_by_structure(labels, calls)
    assert list(merged) == [0, 0, 1, 1, -1, -1]
    assert list(rescue_by_structure(merged, calls)) == list(merged)


def test_tasks_are_ranked_by_size_then_first_call_id():
    ids = ["c1", "c2", "c3", "c4", "c5", "c6"]
    assert rank_by_size(np.array([7, 3, 3, -1, 7, 5]), ids) == [
        "task-00", "task-01", "task-01", "none", "task-00", "task-02"]
