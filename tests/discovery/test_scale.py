"""A window larger than `cluster.discover_max_calls`: discovery on a stable sample, the rest placed by structure."""

from __future__ import annotations

from collections import Counter

import numpy as np

from llm2slm.common.config import ClusterConfig
from llm2slm.discovery.catalogue import plot_tasks
from llm2slm.discovery.ids import Registry
from llm2slm.discovery.pipeline import Options
from llm2slm.discovery.run import discover_and_fit
from llm2slm.discovery.scale import stable_sample
from sklearn.metrics import adjusted_rand_score
from tests.discovery.synthetic import shared_trace

COUNTS = {"triage": 200, "extract": 150, "tools": 150}


def test_a_large_window_is_discovered_on_a_sample_and_every_call_is_placed(tmp_path):
    records, key = shared_trace(COUNTS, seed=5)
    cfg = ClusterConfig(discover_max_calls=320)
    done = discover_and_fit(records, cfg, Options(progress=False), Registry())
    found, catalogue = done.found, done.catalogue
    assert found.ids == sorted(r.id for r in records) and len(found.task_ids) == len(records) == 500
    assert catalogue.n_calls == done.result.n_calls == 500
    assert catalogue.params["discovered_on"] == 320 and catalogue.params["placed_by_assigner"] == 180
    sizes = Counter(found.task_ids)
    assert {t.task_id: t.size for t in catalogue.tasks} == {t: n for t, n in sizes.items() if t != "none"}
    assert sum(t.size for t in catalogue.tasks) + catalogue.n_outliers == 500
    assert adjusted_rand_score([key[i] for i in found.ids], found.task_ids) >= 0.95
    placed = [i for i, (x, y) in zip(found.ids, found.coords, strict=True) if np.isnan(x) and np.isnan(y)]
    assert len(placed) == 180
    plot_tasks(found.coords, found.task_ids, tmp_path / "tasks.png", "sampled")  # NaN points are left out
    assert (tmp_path / "tasks.png").stat().st_size > 1000


def test_the_sample_is_stable_as_the_window_grows():
    records, _ = shared_trace(COUNTS, seed=5)
    first, _ = stable_sample(records[:400], 200, seed=13)
    again, rest = stable_sample(records, 200, seed=13)
    assert len(again) == 200 and len(rest) == 300 and [r.id for r in again] == sorted(r.id for r in again)
    kept = {r.id for r in first} & {r.id for r in again}
    assert len(kept) >= 140  # the 100 new calls can only take places by hash, never reshuffle the others
    assert stable_sample(records, 200, seed=13) == (again, rest)
