"""The retrain flow end to end on the bundled trace's retrain scenario (`llm2slm.sample.scenario`).

A conversion runs on the first part (bank-support triage and table-booking slots without guest names). Then new
traffic arrives: more bank-support calls (unchanged), assistant-router calls (an agent never seen: a new task) and
table-booking calls whose guests give their names (shifted inputs). Real Prefect (a test harness server), real
MLflow store and registry, real DVC in a temporary git repository, real Ray workers and MiniLM specialists.
"""

from __future__ import annotations

import json
import os
from collections import Counter

import pytest

from llm2slm.capture import open_store
from llm2slm.common.artifacts import Artifacts
from llm2slm.common.config import load_config
from llm2slm.discovery.catalogue import read_assignments
from llm2slm.sample.scenario import retrain_scenario
from tests.projects import small_project

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(scope="module")
def scenario():
    return retrain_scenario()


_LEAKED = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "LLM2SLM_HOME")


@pytest.fixture(scope="module")
def own_environment():
    """Earlier in-process flow runs leave their MLflow store in the environment, where it would win over this
    project's own: the module reads and writes only its project's store."""
    saved = {key: os.environ.pop(key) for key in _LEAKED if key in os.environ}
    yield
    for key in _LEAKED:
        os.environ.pop(key, None)
    os.environ.update(saved)


@pytest.fixture(scope="module")
def project(tmp_path_factory, repo_root, scenario, own_environment):
    # a gate every specialist passes: champions exist to be left alone
    return small_project(tmp_path_factory.mktemp("retrainproj"), repo_root, any_gate=True, records=scenario.first,
                         train_calls=150, test_calls=40)


def _run(flow, project):
    saved = dict(os.environ)
    try:
        state = flow(project_dir=str(project), return_state=True)
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        os.environ.clear()
        os.environ.update(saved)  # the flow set this project's store in the environment: the next run sets its own
    assert state.is_completed(), state.message
    return state.result()


def _versions(cfg):
    """{registered model: [(version, aliases)]}: every version of every task's model."""
    from mlflow import MlflowClient

    client = MlflowClient(cfg.mlflow_tracking_uri, registry_uri=cfg.mlflow_tracking_uri)
    return {m.name: sorted((str(v.version), sorted(v.aliases)) for v in client.search_model_versions(f"name='{m.name}'"))
            for m in client.search_registered_models()}


def _task_of(kind, cfg, kinds):
    """The task id most of a kind's calls are assigned to."""
    tasks = Counter(t for i, t in read_assignments(Artifacts(cfg.paths).assignments).items() if kinds.get(i) == kind)
    return tasks.most_common(1)[0][0]


@pytest.fixture(scope="module")
def runs(harness, project, scenario):
    from flows.convert import convert
    from flows.retrain import retrain

    converted = _run(convert, project)
    cfg = load_config(project)
    assert cfg.mlflow_tracking_uri.startswith(f"sqlite:///{project}")  # this project's store, nobody else's
    before = {"versions": _versions(cfg), "catalogue": json.loads(Artifacts(cfg.paths).task_catalogue.read_text())}
    tasks = {kind: _task_of(kind, cfg, scenario.kinds) for kind in ("banking_triage", "slot_extraction")}
    with open_store(cfg) as store:
        store.append(scenario.later_calls())
    report = _run(retrain, project)
    quiet = _run(retrain, project)  # straight after: nothing new since the watermark
    return converted, before, tasks, report, quiet, cfg


def test_the_new_task_is_found_and_trained(runs, scenario):
    _, before, _, report, _, cfg = runs
    known = [t["task_id"] for t in before["catalogue"]["tasks"]]
    new = [d for d in report.decisions if d.action == "train_new"]
    assert len(new) == 1, [d.model_dump() for d in report.decisions]
    router = _task_of("intent_routing", cfg, scenario.kinds)
    assert new[0].task_id == router and router not in known
    outcome = next(o for o in report.outcomes if o.task_id == router)
    assert outcome.version == "1" and outcome.decision == "specialist"
    placed = Counter(t for i, t in read_assignments(Artifacts(cfg.paths).assignments).items()
                     if scenario.kinds.get(i) == "intent_routing")
    assert placed[router] >= 0.9 * len(scenario.later["new_task"])


def test_the_shifted_task_is_retrained_with_the_figure_behind_it(runs):
    _, before, tasks, report, _, cfg = runs
    slots = next(d for d in report.decisions if d.task_id == tasks["slot_extraction"])
    assert slots.action == "retrain"
    assert slots.figures["shift_p_value"] < 0.01
    assert any(r.startswith("inputs shifted: two-sample p-value") for r in slots.reasons)
    outcome = next(o for o in report.outcomes if o.task_id == tasks["slot_extraction"])
    name = outcome.model_name
    assert outcome.version == str(len(before["versions"][name]) + 1)
    from llm2slm.registry.versions import audit_trail, registry_client

    # the gate compared it with the champion re-evaluated on the same (current) test calls
    events = [e for e in audit_trail(registry_client(cfg.mlflow_tracking_uri), name) if e["version"] == outcome.version
              and e["action"] in ("promote", "gate-failed")]
    assert events and events[-1]["figures"]["champion_basis"] == "re-evaluated"


def test_the_unchanged_task_keeps_its_champion_and_versions(runs):
    _, before, tasks, report, _, cfg = runs
    bank = next(d for d in report.decisions if d.task_id == tasks["banking_triage"])
    assert bank.action == "leave", bank.reasons
    assert bank.figures["n_window"] >= 55 and bank.figures["shift_p_value"] >= 0.01
    assert bank.figures["growth"] == pytest.approx(bank.figures["n_window"] / bank.figures["n_trained"], abs=1e-3)
    name = next(n for n in before["versions"] if n.endswith(tasks["banking_triage"]))
    assert _versions(cfg)[name] == before["versions"][name]
    assert tasks["banking_triage"] not in {o.task_id for o in report.outcomes}


def test_every_existing_task_id_is_kept(runs, scenario):
    _, before, tasks, report, _, cfg = runs
    known = [t["task_id"] for t in before["catalogue"]["tasks"]]
    assert report.tasks_before == known and report.tasks_after[:len(known)] == known
    for kind in ("banking_triage", "slot_extraction"):
        assert _task_of(kind, cfg, scenario.kinds) == tasks[kind]
    from llm2slm.discovery.assigner import load_assigner

    assert load_assigner(Artifacts(cfg.paths).assigner_arrays).task_ids == report.tasks_after


def test_the_report_names_each_decision_with_its_figures(runs):
    _, _, _, report, _, cfg = runs
    folder = Artifacts(cfg.paths).retrain_reports / report.run_id
    saved = json.loads((folder / "report.json").read_text())
    assert [d["task_id"] for d in saved["decisions"]] == [d.task_id for d in report.decisions]
    text = (folder / "report.md").read_text()
    for decision in report.decisions:
        assert f"**{decision.task_id}: {decision.action}**: {'; '.join(decision.reasons)}" in text
    assert f"| {report.drift.mix_divergence:.3f} |" in text
    from mlflow import MlflowClient

    client = MlflowClient(cfg.mlflow_tracking_uri)
    run = client.get_run(report.run_id)
    assert run.data.metrics["n_new_tasks"] == 1 and run.data.metrics["unassigned_share"] == pytest.approx(
        report.drift.unassigned_share)
    assert {a.path for a in client.list_artifacts(report.run_id)} >= {"report.json", "report.md"}


def test_a_run_with_nothing_new_changes_nothing(runs):
    _, _, _, report, quiet, cfg = runs
    assert quiet.window.n_calls == 0 and quiet.decisions == [] and quiet.drift is None
    assert quiet.window.since == report.window.until
    assert quiet.tasks_after == report.tasks_after
