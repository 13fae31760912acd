"""The drift signals on known inputs: a shifted sample is found with a small p-value, a resample of the same
distribution is not; the task-mix distance and the shadow agreement read what they should."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

from llm2slm.retraining.drift import input_shift, mix_divergence, shadow_agreement, shares, unassigned_share
from llm2slm.serving.route_log import RouteEvent


def _cloud(rng, n, centre):
    points = rng.normal(size=(n, 16)) * 0.5 + centre
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def test_a_shifted_sample_is_found_and_the_same_distribution_is_not():
    rng = np.random.default_rng(0)
    centre = np.ones(16)
    moved = centre.copy()
    moved[:4] += 1.5
    reference = _cloud(rng, 200, centre)
    same = input_shift(reference, _cloud(rng, 80, centre), seed=1)
    shifted = input_shift(reference, _cloud(rng, 80, moved), seed=1)
    assert same.p_value > 0.05 and 0.35 < same.accuracy < 0.65
    assert shifted.p_value < 1e-6 and shifted.accuracy > 0.8
    assert same.n_per_side == shifted.n_per_side == 80  # the larger side is subsampled to balance


def test_the_test_is_seeded_and_refuses_too_few_calls():
    rng = np.random.default_rng(3)
    a, b = _cloud(rng, 60, np.ones(16)), _cloud(rng, 60, np.ones(16))
    assert input_shift(a, b, seed=5) == input_shift(a, b, seed=5)
    with pytest.raises(ValueError, match="needs 10 calls a side, got 60 and 3"):
        input_shift(a, b[:3], seed=5)


def test_the_task_mix_distance_is_zero_for_the_same_shares_and_one_for_disjoint_tasks():
    assert mix_divergence({"a": 10, "b": 30}, {"a": 1, "b": 3}) == pytest.approx(0.0, abs=1e-9)
    assert mix_divergence({"a": 10}, {"b": 4}) == pytest.approx(1.0)
    # half of the window is a task the training data never had: JS distance sqrt(1 - 0.5 * ... ) in between
    value = mix_divergence({"a": 10}, {"a": 5, "none": 5})
    assert 0.5 < value < 0.6
    assert mix_divergence({}, {"a": 1}) == 0.0


def test_shares_and_the_unassigned_share():
    assert shares({"b": 3, "a": 1}) == {"a": 0.25, "b": 0.75}
    assert unassigned_share(["task-00", "none", "none", "task-01"]) == 0.5
    assert unassigned_share([]) == 0.0


def test_shadow_agreement_counts_only_compared_shadow_events_of_the_task():
    at = datetime(2026, 11, 1, tzinfo=timezone.utc)
    events = [RouteEvent(at=at, kind="shadow", task_id="task-00", route="llm", mode="shadow", agree=True),
              RouteEvent(at=at, kind="shadow", task_id="task-00", route="llm", mode="shadow", agree=False),
              RouteEvent(at=at, kind="shadow", task_id="task-00", route="llm", mode="shadow", agree=None),
              RouteEvent(at=at, kind="shadow", task_id="task-01", route="llm", mode="shadow", agree=False),
              RouteEvent(at=at, kind="call", task_id="task-00", route="specialist", mode="on")]
    assert shadow_agreement(events, "task-00") == (0.5, 2)
    assert shadow_agreement(events, "task-02") == (None, 0)
