"""The convert flow under a real Prefect server, without the CLI, on a tiny synthetic trace of encoder tasks.

Real Prefect (a test harness server), real MLflow store and registry, real DVC in a temporary git repository,
real Ray workers and MiniLM specialists. The flow prepares its own environment (what a deployed run gets from a
Prefect worker), and the test checks every task run the flow makes, the artefacts the catalogue names, and the
registered versions. A second copy of the project is converted by the CLI, SIGKILLed after its cluster stage and
run again: the rerun reuses curate and cluster (Cached task runs, its log, MLflow tags) and ends with the datasets
of the uninterrupted run.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from llm2slm.common.artifacts import ARTIFACTS, Artifacts
from llm2slm.common.config import load_config
from llm2slm.lineage.resume import outputs_digest, stamp_path
from tests.projects import small_project

# every task the conversion runs: a task taken out of the flow (or one added) fails the test
DATA_TASKS = {"dvc-init": 1, "start-conversion": 1, "export": 1, "curate": 1, "track-curate": 1, "cluster": 1,
              "track-cluster": 1, "split": 1, "dvc-commit": 4, "dvc-push": 1, "read-tasks": 1,
              "finish-conversion": 1}
PER_TASK = ("specialise-task", "select", "track-select")  # a subflow run stands as a task run of its parent
PER_TRAINED_TASK = ("finetune", "track-finetune", "evaluate", "track-evaluate", "compare", "track-report",
                    "reevaluate-champion", "register", "track-register")


@pytest.fixture(scope="module")
def harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(scope="module")
def project(tmp_path_factory, repo_root):
    return small_project(tmp_path_factory.mktemp("flowproj"), repo_root)


@pytest.fixture(scope="module")
def run(harness, project):
    from flows.convert import convert

    saved = dict(os.environ)
    for key in ("MLFLOW_TRACKING_URI", "XDG_CACHE_HOME"):  # set by the flow itself, as on a Prefect worker
        os.environ.pop(key, None)
    try:
        state = convert(project_dir=str(project), return_state=True)
        prepared = {key: os.environ.get(key) for key in ("MLFLOW_TRACKING_URI", "XDG_CACHE_HOME")}
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        os.environ.clear()
        os.environ.update(saved)
    return state, prepared


def _task_runs(flow_run_id):
    """Every task run of the flow run and of its subflow runs."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    with get_client(sync_client=True) as client:
        children = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[flow_run_id])))
        flow_runs = [flow_run_id, *(f.id for f in children)]
        return client.read_task_runs(flow_run_filter=FlowRunFilter(id={"any_": flow_runs}), limit=200)


def test_the_flow_completes_and_every_task_run_completes(run):
    state, _ = run
    assert state.is_completed(), state.message
    summary = state.result()
    trained = [o for o in summary.outcomes if o.version]
    kept = [o for o in summary.outcomes if o.decision == "llm"]
    assert len(trained) == 2 and len(kept) == 1 and kept[0].output_shape == "tool_call"
    assert all(o.raw_agreement is not None for o in trained)  # also scored on the test calls as captured
    runs = _task_runs(state.state_details.flow_run_id)
    assert all(r.state.is_completed() for r in runs), [(r.name, r.state.name) for r in runs]
    counts = Counter(r.name.rsplit("-", 1)[0] for r in runs)  # a task run is named <task>-<3 characters>
    expected = Counter(DATA_TASKS)
    expected.update({name: summary.n_tasks for name in PER_TASK})
    expected.update({name: len(trained) for name in PER_TRAINED_TASK})
    assert counts == expected


def test_the_flow_prepared_its_own_environment(run, project, monkeypatch):
    _, prepared = run
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # another test's setting would win
    cfg = load_config(project)
    assert prepared["MLFLOW_TRACKING_URI"] == cfg.mlflow_tracking_uri
    assert prepared["XDG_CACHE_HOME"] == str(cfg.paths.home / "cache")


def test_every_catalogued_dataset_exists_and_dvc_versions_it(run, project):
    art = Artifacts(load_config(project).paths)
    for artifact in ARTIFACTS:
        if artifact.stage:
            assert art.path(artifact.key).exists(), artifact.key
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    assert set(lock["stages"]) == {"export", "curate", "cluster", "split"}
    assert any((art.paths.dvc_remote).rglob("*"))
    # captured text leaves the store only scrubbed, owner-only: export wrote a manifest, not the calls
    assert not list(art.paths.data_dir.glob("raw*.parquet"))
    assert stat.S_IMODE(art.curated.stat().st_mode) == 0o600
    assert {stat.S_IMODE(p.stat().st_mode) for p in (art.paths.data_dir, art.tasks)} == {0o700}


def test_the_registered_versions_carry_their_task_and_dataset(run, project, monkeypatch):
    from mlflow import MlflowClient

    state, _ = run
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = load_config(project)
    client = MlflowClient(cfg.mlflow_tracking_uri, registry_uri=cfg.mlflow_tracking_uri)
    for outcome in state.result().outcomes:
        if not outcome.version:
            continue
        version = client.get_model_version(outcome.model_name, outcome.version)
        assert version.tags["llm2slm.task_name"] == outcome.name
        described = client.get_registered_model(outcome.model_name).description
        assert described.startswith(f"{outcome.name}: a {outcome.output_shape} task of {outcome.calls:,} calls")
        assert "Example calls:\n- " in described
        assert len(version.tags["dvc.tasks_md5"]) >= 32
        assert str(client.get_model_version_by_alias(outcome.model_name, "challenger").version) == outcome.version


@pytest.fixture(scope="module")
def resumed(harness, run, tmp_path_factory, repo_root):
    """`llm2slm convert` on a second copy of the project, SIGKILLed once its cluster stage has finished (as soon as
    the split after it has: the cluster stage's DVC commit is then complete), then run
    again to the end: (the digests of the killed run's curate and cluster outputs, the rerun's output)."""
    from prefect.settings import PREFECT_API_URL

    folder = small_project(tmp_path_factory.mktemp("resumeproj"), repo_root)
    cfg = _own_config(folder)
    env = {k: v for k, v in os.environ.items() if k not in LEAKED}
    env["PREFECT_API_URL"] = PREFECT_API_URL.value()  # the harness's server, so the test reads the task runs
    cmd = [str(Path(sys.executable).with_name("llm2slm")), "convert", "--project", str(folder)]
    with (folder / "killed.log").open("w") as log:
        killed = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 300
        while not stamp_path(cfg, "split").exists() and killed.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait(30)
    assert killed.returncode == -signal.SIGKILL, (folder / "killed.log").read_text()[-3000:]
    before = {stage: outputs_digest(cfg, stage) for stage in ("curate", "cluster")}
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    (folder / "rerun.log").write_text(rerun.stdout + rerun.stderr)
    return folder, before, rerun.stdout + rerun.stderr


LEAKED = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "XDG_CACHE_HOME", "RAY_TMPDIR", "LLM2SLM_HOME")


def _own_config(folder):
    """The project's configuration as its CLI run sees it: an earlier in-process flow of the suite may have left
    its MLflow store (or a home) in this process's environment, where it would win."""
    saved = {key: os.environ.pop(key) for key in LEAKED if key in os.environ}
    try:
        return load_config(folder)
    finally:
        os.environ.update(saved)


def _without_agents(cfg) -> list[dict]:
    from llm2slm.common.snapshot import read_snapshot

    return [r.model_dump(mode="json", exclude={"source"}) for r in read_snapshot(Artifacts(cfg.paths).curated)]


def _flow_runs_of(name: str) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[name])),
                                     sort=FlowRunSort.START_TIME_ASC)


def test_a_run_killed_after_clustering_resumes_without_curating_or_clustering_again(resumed, run):
    folder, before, output = resumed
    cfg = _own_config(folder)
    assert before["curate"] is not None and before["cluster"] is not None
    assert {stage: outputs_digest(cfg, stage) for stage in before} == before  # not rewritten by the rerun
    for stage in ("curate", "cluster"):
        assert f"{stage}: reused the result of an earlier run" in output
    convert_runs = [r for r in _flow_runs_of("convert") if r.id != run[0].state_details.flow_run_id]
    killed, rerun = convert_runs[-2:]
    assert killed.state.is_running() and rerun.state.is_completed()  # the killed run never reported again
    states = {r.name.rsplit("-", 1)[0]: r.state.name for r in _task_runs(rerun.id)
              if r.name.rsplit("-", 1)[0] in ("export", "curate", "cluster")}
    assert states == {"export": "Completed", "curate": "Cached", "cluster": "Cached"}


def test_the_resumed_run_is_tracked_as_reusing_and_ends_with_the_uninterrupted_runs_datasets(resumed, run,
                                                                                               project):
    from mlflow import MlflowClient

    folder, _, output = resumed
    cfg = _own_config(folder)
    summary = json.loads(Artifacts(cfg.paths).last_summary.read_text())
    reference = run[0].result()
    assert summary["reused"][:2] == ["curate", "cluster"]
    assert f"reused from an earlier run (same inputs, configuration and code): {', '.join(summary['reused'])}" \
        in output
    # the agent pseudonyms in the curated snapshot are keyed by each home's own key: compared without them
    assert {k: v for k, v in summary["data_hashes"].items() if k != "curated"} == \
        {k: v for k, v in reference.data_hashes.items() if k != "curated"} and len(reference.data_hashes) == 3
    assert _without_agents(cfg) == _without_agents(_own_config(project))
    for stage in ("cluster", "split"):
        assert outputs_digest(cfg, stage) == outputs_digest(_own_config(project), stage)
    trained = sorted(o["task_id"] for o in summary["outcomes"] if o["version"])
    assert trained == sorted(o.task_id for o in reference.outcomes if o.version)
    client = MlflowClient(cfg.mlflow_tracking_uri)
    parent = client.get_run(summary["parent_run_id"])
    assert parent.data.tags["llm2slm.reused_stages"] == ",".join(summary["reused"])
    children = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert {c.data.tags["llm2slm.stage"]: c.data.tags["llm2slm.reused"] for c in children
            if c.data.tags["llm2slm.stage"] in ("curate", "cluster")} == {"curate": "true", "cluster": "true"}
