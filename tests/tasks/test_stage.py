"""Resumable stages under real Prefect flow runs: a rerun with the same inputs takes the cached result (its task
run ends Cached and the stage does not run), and anything the result depends on, or a change to the files the
stage wrote, makes it run again."""

from __future__ import annotations

import json

import pytest
from prefect import flow

from llm2slm.lineage.resume import stamp_path
from tasks.split import split
from tasks.stage import run_stage
from tests.tasks.conftest import project_config
from tests.tasks.test_split import _inputs


@pytest.fixture(scope="module", autouse=True)
def harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@flow(name="split-twice")
def split_flow(cfg):
    return run_stage(split, cfg, "split")


def _parts(art):
    return {p.relative_to(art.tasks).as_posix(): p.read_bytes() for p in sorted(art.tasks.rglob("*.jsonl"))}


def test_a_rerun_with_the_same_inputs_reuses_the_result_and_leaves_the_files(cfg, art):
    _inputs(art)
    first, reused_first = split_flow(cfg)
    written = _parts(art)
    mtimes = {p: p.stat().st_mtime_ns for p in art.tasks.rglob("*.jsonl")}
    again, reused_again = split_flow(cfg)
    assert (reused_first, reused_again) == (False, True)
    assert again == first and [c.task_id for c in again] == ["task-00", "task-01"]
    assert _parts(art) == written and {p: p.stat().st_mtime_ns for p in art.tasks.rglob("*.jsonl")} == mtimes
    assert len(list(art.stage_results.iterdir())) >= 1  # persisted under the run's home


def test_new_inputs_run_the_stage_again(cfg, art):
    _inputs(art)
    split_flow(cfg)
    _inputs(art, n=120)  # the curated calls and their tasks changed (the retrain flow's merge does this)
    counts, reused = split_flow(cfg)
    assert reused is False
    assert sum(c.train + c.val + c.test for c in counts) == 119


def test_a_change_to_the_stages_configuration_runs_it_again_and_one_elsewhere_does_not(tmp_path):
    cfg = project_config(tmp_path)
    from llm2slm.common.artifacts import Artifacts

    art = Artifacts(cfg.paths)
    _inputs(art)
    split_flow(cfg)
    other_section = cfg.model_copy(update={"finetune": cfg.finetune.model_copy(update={"epochs": 7})})
    assert split_flow(other_section)[1] is True
    own_section = cfg.model_copy(update={"split": cfg.split.model_copy(update={"test_fraction": 0.3})})
    counts, reused = split_flow(own_section)
    assert reused is False
    assert json.loads(stamp_path(cfg, "split").read_text())["stage"] == "split"


def test_outputs_changed_by_hand_are_written_again(cfg, art):
    _inputs(art)
    split_flow(cfg)
    written = _parts(art)
    (art.tasks / "task-00" / "test.jsonl").unlink()
    _, reused = split_flow(cfg)
    assert reused is False and _parts(art) == written
