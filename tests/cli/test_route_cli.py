"""`llm2slm route` and `llm2slm status` through the real command, on a real registry and route log in a home."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone

import pytest
from typer.testing import CliRunner

from llm2slm.capture.keys import Role
from llm2slm.capture.local import open_keyring
from llm2slm.cli import app
from llm2slm.common.artifacts import Artifacts
from llm2slm.common.config import load_config
from llm2slm.registry.routing import route_audit
from llm2slm.registry.versions import register_version, registry_client
from llm2slm.serving.route_log import RouteEvent, RouteLog
from tests.mlflow_factories import gate_policy, log_fixed_model

POLICY = gate_policy()
GOOD = {"agreement": 0.92, "latency_ms_p95": 20.0, "cost_per_1k_llm_usd": 0.42}
BAD = {"agreement": 0.40, "latency_ms_p95": 20.0}
NO_KEY = {"LLM2SLM_API_KEY": None, "MLFLOW_TRACKING_URI": None}  # another test may leave either set


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A project whose registry holds task-01 (champion 1, challenger 2), task-02 (a failed challenger only) and
    task-03 (version 1, champion and challenger); and keys of every role, by role."""
    project = tmp_path_factory.mktemp("project")
    (project / "params.yaml").write_text("{}\n")
    os.environ.pop("MLFLOW_TRACKING_URI", None)  # set by an earlier test's MLflow run
    cfg = load_config(project)
    uri = cfg.mlflow_tracking_uri
    assert uri == f"sqlite:///{cfg.paths.mlflow_dir / 'mlflow.db'}"
    cfg.paths.mlflow_dir.mkdir(parents=True)
    model = log_fixed_model(cfg.paths.mlflow_dir)
    for task, metrics in (("task-01", GOOD), ("task-01", BAD), ("task-02", BAD), ("task-03", GOOD)):
        register_version(uri, f"llm2slm-{task}", task, model, "closed_label", metrics, {}, POLICY, by="ci")
    ring = open_keyring(cfg)
    keys = {role.value: ring.create(f"{role.value}-key", role) for role in Role}
    yield project, cfg, keys
    os.environ.pop("MLFLOW_TRACKING_URI", None)  # mlflow.set_tracking_uri above exported it to later tests


def run(project, *args, key=None):
    extra = ["--key", key] if key else []
    return CliRunner().invoke(app, [*args, *extra, "--project", str(project)], env=NO_KEY)


def _route_tags(cfg, task):
    tags = registry_client(cfg.mlflow_tracking_uri).get_registered_model(f"llm2slm-{task}").tags
    return {k: v for k, v in tags.items() if k.startswith(("llm2slm.route.", "route_audit."))}


def test_a_release_key_moves_a_task_off_shadow_canary_on(home):
    project, cfg, keys = home
    steps = [("shadow", []), ("canary", ["--share", "0.25"]), ("on", [])]
    outputs = []
    for mode, extra in steps:
        result = run(project, "route", "task-01", "--mode", mode, *extra, "--reason", f"to {mode}",
                     key=keys["release"])
        assert result.exit_code == 0, result.output
        outputs.append(result.stdout.strip())
    assert outputs == ["llm2slm-task-01: route off -> shadow (champion version 1; by release-key)",
                       "llm2slm-task-01: route shadow -> canary 25% (champion version 1; by release-key)",
                       "llm2slm-task-01: route canary 25% -> on (champion version 1; by release-key)"]
    assert {k: v for k, v in _route_tags(cfg, "task-01").items() if k.startswith("llm2slm.")} == {
        "llm2slm.route.mode": "on", "llm2slm.route.share": "1"}
    client = registry_client(cfg.mlflow_tracking_uri)
    events = route_audit(client, "llm2slm-task-01")
    assert [(e["by"], e["to"]["mode"], e["why"]) for e in events] == [
        ("release-key", "shadow", "to shadow"), ("release-key", "canary", "to canary"), ("release-key", "on", "to on")]
    admin = CliRunner().invoke(app, ["route", "task-01", "--mode", "off", "--project", str(project)],
                               env={**NO_KEY, "LLM2SLM_API_KEY": keys["admin"]})  # an admin key, from the environment
    assert admin.exit_code == 0 and admin.stdout.strip().endswith("on -> off (champion version 1; by admin-key)")


def test_refused_keys_unknown_tasks_and_bad_shares_change_nothing(home):
    project, cfg, keys = home
    before = {task: _route_tags(cfg, task) for task in ("task-01", "task-02", "task-03")}
    for role in ("agent", "curator"):
        refused = run(project, "route", "task-03", "--mode", "on", key=keys[role])
        assert refused.exit_code == 3, refused.output
        assert f"error: permission denied (403): API key {keys[role].split('_')[1]} ({role}-key) has role {role}" \
               in refused.output and "needs a release or admin key" in refused.output
    unknown = run(project, "route", "task-03", "--mode", "on", key="l2s_000000000000_nope")
    assert unknown.exit_code == 3 and "not authenticated (401): unknown API key 000000000000" in unknown.output
    missing = run(project, "route", "task-03", "--mode", "on")
    assert missing.exit_code == 3 and "(401): missing API key (pass --key or set $LLM2SLM_API_KEY)" in missing.output
    task = run(project, "route", "task-99", "--mode", "on", key=keys["release"])
    assert task.exit_code == 1
    assert ("unknown task 'task-99': no registered model llm2slm-task-99; known tasks: task-01, task-02, task-03"
            in task.output)
    share = run(project, "route", "task-03", "--mode", "canary", "--share", "1.5", key=keys["release"])
    assert share.exit_code == 2 and "share 1.5: canary needs 0 < share < 1" in share.output
    mode = run(project, "route", "task-03", "--mode", "full", key=keys["release"])
    assert mode.exit_code == 2 and "unknown route mode 'full'" in mode.output
    champion = run(project, "route", "task-02", "--mode", "shadow", key=keys["release"])
    assert champion.exit_code == 1 and "llm2slm-task-02 has no champion: mode shadow needs one" in champion.output
    assert {task: _route_tags(cfg, task) for task in before} == before


def _write_events(cfg):
    now = datetime.now(timezone.utc) - timedelta(minutes=5)
    old = now - timedelta(days=3)  # outside a 24h window
    events = [*[RouteEvent(at=now, task_id="task-01", route="specialist", mode="canary", model_version="1")] * 3,
              RouteEvent(at=now, task_id="task-01", route="llm", mode="canary", llm_model="gpt-4o-mini",
                         prompt_tokens=1000, completion_tokens=100),  # 0.00021 USD
              RouteEvent(at=now, task_id="task-01", route="fallback", fallback_reason="timeout", mode="canary"),
              RouteEvent(at=now, kind="shadow", task_id="task-01", route="llm", mode="canary", agree=True),
              RouteEvent(at=now, kind="shadow", task_id="task-01", route="llm", mode="canary", agree=False),
              *[RouteEvent(at=now, task_id="task-03", route="specialist", mode="on", model_version="1")] * 2,
              RouteEvent(at=old, task_id="task-03", route="specialist", mode="on", model_version="1"),
              RouteEvent(at=now, task_id="none", route="llm", mode="off")]
    folder = Artifacts(cfg.paths).route_log
    with RouteLog(folder, "gw-a") as first, RouteLog(folder, "gw-b") as second:
        for n, event in enumerate(events):
            (first if n % 2 else second).append(event)


def test_status_lists_every_task_then_the_window_traffic(home):
    project, cfg, _ = home
    empty = CliRunner().invoke(app, ["status", "--json", "--project", str(project)], env=NO_KEY)
    assert empty.exit_code == 0, empty.output
    tasks = json.loads(empty.stdout)["tasks"]
    assert [(t["task_id"], t["traffic"]["calls"], t["traffic"]["cost_saved_usd"]) for t in tasks] == [
        ("task-01", 0, 0.0), ("task-02", 0, 0.0), ("task-03", 0, 0.0)]
    _write_events(cfg)
    shown = CliRunner().invoke(app, ["status", "--window", "24h", "--project", str(project)], env=NO_KEY)
    assert shown.exit_code == 0, shown.output
    rows = {line.split()[0]: line for line in shown.stdout.splitlines() if line.startswith(("task-", "none"))}
    assert rows["task-01"].split() == ["task-01", "1", "2", "off", "5", "60.0%", "(3)", "50.0%", "(2)", "timeout",
                                       "1", "0.0006"]
    assert rows["task-02"].split() == ["task-02", "-", "1", "off", "0", "-", "(0)", "-", "(0)", "0", "0.0000"]
    assert rows["task-03"].split() == ["task-03", "1", "1", "off", "2", "100.0%", "(2)", "-", "(0)", "0",
                                       "0.0008", "*"]
    assert rows["none"].split() == ["none", "-", "-", "unregistered", "1", "0.0%", "(0)", "-", "(0)", "0", "0.0000"]
    assert "11 route events from 2 replica file(s)" not in shown.stdout  # the 3-day-old one is outside
    assert "10 route events from 2 replica file(s)" in shown.stdout
    data = json.loads(CliRunner().invoke(app, ["status", "--json", "--project", str(project)], env=NO_KEY).stdout)
    traffic = {t["task_id"]: t["traffic"] for t in data["tasks"]}
    assert traffic["task-01"]["cost_saved_usd"] == pytest.approx(3 * 0.00021)
    assert traffic["task-03"]["cost_saved_usd"] == pytest.approx(2 * 0.42 / 1000)
    assert traffic["task-03"]["cost_basis"] == "evaluation"
    week = json.loads(CliRunner().invoke(app, ["status", "--window", "7d", "--json", "--project",
                                               str(project)], env=NO_KEY).stdout)
    assert {t["task_id"]: t["traffic"]["calls"] for t in week["tasks"]}["task-03"] == 3


def test_status_refuses_a_bad_window_and_says_when_the_registry_is_down(home):
    project, _, _ = home
    bad = CliRunner().invoke(app, ["status", "--window", "yesterday", "--project", str(project)], env=NO_KEY)
    assert bad.exit_code == 2 and "--window: window 'yesterday': expected a positive number" in bad.output
    down = CliRunner().invoke(app, ["status", "--project", str(project)],
                              env={**NO_KEY, "MLFLOW_TRACKING_URI": "http://127.0.0.1:9",
                                   "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"})
    assert down.exit_code == 1
    assert "error: cannot read the model registry" in down.output and "http://127.0.0.1:9" in down.output


def test_keys_create_makes_a_release_key_that_keys_list_shows(home):
    project, _, keys = home
    made = CliRunner().invoke(app, ["keys", "create", "--name", "rm-alice", "--role", "release", "--api-key",
                                    keys["admin"], "--project", str(project)], env=NO_KEY)
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[0]
    assert "created release key" in made.output
    listed = CliRunner().invoke(app, ["keys", "list", "--json", "--api-key", keys["admin"], "--project",
                                      str(project)], env=NO_KEY)
    assert {"name": "rm-alice", "role": "release"}.items() <= next(
        json.loads(line) for line in listed.stdout.splitlines() if "rm-alice" in line).items()
    moved = run(project, "route", "task-03", "--mode", "shadow", key=token)
    assert moved.exit_code == 0 and "by rm-alice" in moved.stdout
    assert run(project, "route", "task-03", "--mode", "off", key=token).exit_code == 0
    bad = CliRunner().invoke(app, ["keys", "create", "--name", "x", "--role", "owner", "--api-key", keys["admin"],
                                   "--project", str(project)], env=NO_KEY)
    assert bad.exit_code == 2 and "expected agent, curator, admin or release" in bad.output
