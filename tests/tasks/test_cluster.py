"""Stage S3 on a small synthetic trace of three call shapes: the real encoder, UMAP and HDBSCAN, few fits.

The fitted results are shared through module-scoped fixtures: one multi-task run, its rerun (determinism), a
run on a subset followed by one on the whole trace (stable ids), one single-task run, and one too-small run.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from llm2slm.common.config import ClusterConfig, Config, load_config
from llm2slm.common.snapshot import write_snapshot
from llm2slm.discovery.assigner import load_assigner
from llm2slm.common.schema import CallRecord
from llm2slm.discovery.run import DiscoveryResult
from llm2slm.discovery.score import adjusted_rand
from tasks.cluster import cluster
from tests.discovery.synthetic import trace
from tests.factories import make_record

COUNTS = {"triage": 150, "extract": 110, "tools": 80}
SHAPES = {"triage": "closed_label", "extract": "json", "tools": "tool_call"}
NAMES = {"closed_label": r"classify into 5 labels", "json": r"extract (\w+), (\w+), (\w+) and 1 more field -> JSON",
         "tool_call": r"call (\w+)(?:, (\w+))*"}  # keys and tools are named by how often they occur
# UMAP is fitted on 250 of the 340 calls and places the rest with `transform`: both paths are exercised
SAMPLED = ClusterConfig(umap_fit_max=250)
OUTPUTS = ("catalogue.json", "catalogue.png", "catalogue.html", "assignments.parquet", "assigner.npz",
           "assigner.json", "task_registry.json")


def _config(folder: Path, cluster_cfg: ClusterConfig | None = None) -> Config:
    """A run whose datasets folder is `folder` (the stage reads and writes there, through the artifact catalogue)."""
    return load_config(folder, home=folder, overrides={"data_dir": str(folder),
                                                       "cluster": (cluster_cfg or ClusterConfig()).model_dump()})


def _run(folder: Path, records, cfg: ClusterConfig | None = None) -> tuple[DiscoveryResult, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    write_snapshot(records, folder / "curated.parquet")
    return cluster.fn(_config(folder, cfg)), folder


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    records, key = trace(COUNTS, seed=1)
    result, folder = _run(tmp_path_factory.mktemp("multi"), records, SAMPLED)
    return result, folder, key


@pytest.fixture(scope="module")
def rerun(tmp_path_factory):
    records, _ = trace(COUNTS, seed=1)
    return _run(tmp_path_factory.mktemp("rerun"), list(reversed(records)), SAMPLED)


def _catalogue(folder: Path) -> dict:
    return json.loads((folder / "catalogue.json").read_text())


def _assignments(folder: Path) -> dict[str, str]:
    rows = pq.read_table(folder / "assignments.parquet").to_pylist()
    return {row["id"]: row["task_id"] for row in rows}


def test_the_tasks_recover_the_kinds(multi):
    result, folder, key = multi
    assert adjusted_rand(folder / "assignments.parquet", key) >= 0.8
    assert result.n_tasks == 3
    assert result.n_outliers <= 0.05 * result.n_calls
    assert result.n_calls == sum(COUNTS.values())


def test_each_task_has_the_output_shape_of_its_kind(multi):
    _, folder, key = multi
    assigned = _assignments(folder)
    shapes = {t["task_id"]: t["output_shape"] for t in _catalogue(folder)["tasks"]}
    for task_id, shape in shapes.items():
        kind = Counter(key[i] for i, t in assigned.items() if t == task_id).most_common(1)[0][0]
        assert shape == SHAPES[kind], (task_id, kind)


def test_the_catalogue_names_ranks_and_describes_each_task(multi):
    result, folder, _ = multi
    catalogue = _catalogue(folder)
    assert catalogue["n_calls"] == result.n_calls and catalogue["n_outliers"] == result.n_outliers
    tasks = catalogue["tasks"]
    assert [t["task_id"] for t in tasks] == [f"task-{i:02d}" for i in range(len(tasks))]
    sizes = [t["size"] for t in tasks]
    assert sizes == sorted(sizes, reverse=True) and sizes == list(result.task_sizes.values())
    assigned = Counter(_assignments(folder).values())
    for task in tasks:
        assert assigned[task["task_id"]] == task["size"]
        assert 1 <= len(task["keywords"]) <= ClusterConfig().keywords
        named = re.fullmatch(NAMES[task["output_shape"]], task["name"])  # from the answers; keywords are detail
        assert named and set(filter(None, named.groups())) <= {"origin", "destination", "date", "passengers",
                                                                "get_weather", "convert_currency", "find_recipe"}
        assert len(task["exemplars"]) == 3 and all(e["id"] and e["text"] for e in task["exemplars"])
        assert len({e["text"] for e in task["exemplars"]}) == 3
        assert set(task["tokens"]) == {"request", "answer"}
        assert task["tokens"]["request"]["p50"] <= task["tokens"]["request"]["p90"] <= task["tokens"]["request"]["p99"]
    assert catalogue["params"]["min_cluster_size"] == 10 and catalogue["params"]["seed"] == 13
    assert catalogue["params"]["umap_fitted_on"] == 250
    assert result.timings.embed_s > 0 and result.timings.umap_s > 0 and result.timings.hdbscan_s >= 0


def test_the_outputs_are_complete_and_nothing_half_written_is_left(multi):
    _, folder, _ = multi
    table = pq.read_table(folder / "assignments.parquet")
    assert table.column_names == ["id", "task_id", "probability"]
    probabilities = table.column("probability").to_pylist()
    assert all(0.0 <= p <= 1.0 for p in probabilities)
    assert (folder / "catalogue.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_the_same_seed_gives_the_same_bytes(multi, rerun):
    _, first, _ = multi
    _, second = rerun
    for name in OUTPUTS:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_a_rerun_in_place_reads_the_registry_and_gives_the_same_bytes(multi, tmp_path):
    _, first, _ = multi
    folder = tmp_path / "again"
    shutil.copytree(first, folder)
    cluster.fn(_config(folder, SAMPLED))
    for name in OUTPUTS:
        assert (first / name).read_bytes() == (folder / name).read_bytes(), name


@pytest.fixture(scope="module")
def superset(tmp_path_factory):
    """A run on the extraction and tool calls only, then one on all calls (triage, the largest, is new)."""
    records, key = trace(COUNTS, seed=1)
    folder = tmp_path_factory.mktemp("superset")
    _run(folder, [r for r in records if key[r.id] != "triage"])
    before = {task: Counter(key[i] for i, t in _assignments(folder).items() if t == task).most_common(1)[0][0]
              for task in {t for t in _assignments(folder).values() if t != "none"}}
    _run(folder, records)
    return before, folder, key


def test_re_clustering_a_superset_keeps_the_ids_and_numbers_new_tasks_next(superset):
    before, folder, key = superset
    assert sorted(before.values()) == ["extract", "tools"]
    after = {}
    for task in {t for t in _assignments(folder).values() if t != "none"}:
        after[task] = Counter(key[i] for i, t in _assignments(folder).items() if t == task).most_common(1)[0][0]
    assert {k: v for k, v in after.items() if k in before} == before
    assert after["task-02"] == "triage", "the new task gets the next id even though it is the largest"
    registry = json.loads((folder / "task_registry.json").read_text())
    assert registry["next_id"] == 3 and [t["task_id"] for t in registry["tasks"]] == ["task-00", "task-01", "task-02"]
    sizes = [t["size"] for t in _catalogue(folder)["tasks"]]
    assert sizes[2] == max(sizes)


def _unrelated_calls() -> list[CallRecord]:
    return [
        make_record(900_001, "", messages=[{"role": "user", "content": "Write a sonnet about the North Sea tides"}]),
        make_record(900_002, "Der Mieter zahlt die Miete monatlich im Voraus.",
                    system="You translate legal contracts from German into English, clause by clause, keeping the "
                           "numbering."),
    ]


def test_the_assigner_places_new_calls_of_known_tasks_and_sends_unrelated_ones_to_none(multi):
    _, folder, _ = multi
    assigner = load_assigner(folder / "assigner")
    fresh, fresh_key = trace({"triage": 10, "extract": 10, "tools": 10}, seed=9)
    placed = assigner.assign(fresh + _unrelated_calls())
    task_of_kind = {}
    for (task, _), record in zip(placed[:30], fresh, strict=True):
        task_of_kind.setdefault(fresh_key[record.id], Counter())[task] += 1
    for kind, counts in task_of_kind.items():
        task, n = counts.most_common(1)[0]
        assert task != "none" and n >= 9, (kind, counts)
    assert len({counts.most_common(1)[0][0] for counts in task_of_kind.values()}) == 3
    assert [task for task, _ in placed[30:]] == ["none", "none"]
    assert all(confidence >= 0.9 for _, confidence in placed[30:])
    assert all(0.0 <= confidence <= 1.0 for _, confidence in placed)


def test_a_single_task_trace_gives_one_task(tmp_path):
    records, _ = trace({"triage": 90}, seed=2)
    result, folder = _run(tmp_path, records)
    assert result.n_tasks == 1
    assert result.task_sizes["task-00"] + result.n_outliers == 90
    assert _catalogue(folder)["tasks"][0]["output_shape"] == "closed_label"


def test_too_few_calls_give_one_task_without_clustering(tmp_path):
    records, _ = trace({"triage": 8, "tools": 7}, seed=3)
    result, folder = _run(tmp_path, records)
    assert result.n_tasks == 1 and result.n_outliers == 0 and result.task_sizes == {"task-00": 15}
    assert result.timings.umap_s == 0.0
    assert _catalogue(folder)["params"]["too_few_to_cluster"] is True
    assert (folder / "catalogue.png").is_file()


def test_an_empty_snapshot_is_refused_clearly(tmp_path):
    write_snapshot([], tmp_path / "curated.parquet")
    with pytest.raises(ValueError, match="empty"):
        cluster.fn(_config(tmp_path))
    assert not (tmp_path / "catalogue.json").exists() and not (tmp_path / "assignments.parquet").exists()


def test_a_missing_snapshot_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="curated.parquet"):
        cluster.fn(_config(tmp_path))  # no curated snapshot in the folder


def test_adjusted_rand_compares_only_the_calls_in_both(multi):
    _, folder, key = multi
    assigned = _assignments(folder)
    some = dict(list(key.items())[:100]) | {"call-999999": "extra"}
    assert adjusted_rand(folder / "assignments.parquet", some) == pytest.approx(
        adjusted_rand(folder / "assignments.parquet", {k: key[k] for k in list(key)[:100]}))
    with pytest.raises(ValueError, match="answer key"):
        adjusted_rand(folder / "assignments.parquet", {"elsewhere": "x"})
    assert len(assigned) == sum(COUNTS.values())
