import json

from typer.testing import CliRunner

from llm2slm.cli import app
from llm2slm.common.config import load_config
from llm2slm.cli.ui import ui_commands


def test_help_names_every_command():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("ingest", "convert", "demo", "stage", "schema", "ui", "promote", "rollback", "history"):
        assert command in result.output


def test_ui_binds_both_servers_to_loopback_on_the_projects_stores(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = load_config(tmp_path)
    mlflow_cmd, prefect_cmd = ui_commands(cfg, 5000, 4200)
    assert mlflow_cmd[mlflow_cmd.index("--host") + 1] == "127.0.0.1"
    assert prefect_cmd[prefect_cmd.index("--host") + 1] == "127.0.0.1"
    assert cfg.mlflow_tracking_uri in mlflow_cmd and str(tmp_path) in mlflow_cmd[-1]


def test_an_unknown_stage_is_a_clear_error(tmp_path):
    (tmp_path / "params.yaml").write_text("{}\n")
    result = CliRunner().invoke(app, ["stage", "bogus", "--project", str(tmp_path)])
    assert result.exit_code != 0
    assert "unknown stage 'bogus'" in result.output


def test_promote_and_rollback_commands_move_champion_and_fail_clearly(tmp_path, monkeypatch):
    from mlflow import MlflowClient

    from llm2slm.registry.versions import PromotionPolicy, alias_version, register_version
    from tests.mlflow_factories import log_fixed_model

    (tmp_path / "params.yaml").write_text("{}\n")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("USER", "release-manager")
    policy = PromotionPolicy(mode="auto", tolerance=0.0, latency_p95_ms=100, metrics={
        s: {"metric": "agreement", "threshold": 0.8} for s in ("closed_label", "json_spans", "json", "tool_call",
                                                               "free_text")})
    model_uri = log_fixed_model(tmp_path)
    for agreement in (0.9, 0.5):
        register_version(uri, "llm2slm-task-03", "task-03", model_uri, "json",
                         {"agreement": agreement, "latency_ms_p95": 5.0}, {}, policy)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    run = CliRunner().invoke
    args = ["--project", str(tmp_path)]

    failed = run(app, ["promote", "task-03", "--version", "2", *args])
    assert failed.exit_code == 1 and "gate failed" in failed.output and "agreement 0.500 < threshold" in failed.output
    assert alias_version(client, "llm2slm-task-03", "champion") == "1"
    no_reason = run(app, ["promote", "task-03", "--version", "2", "--force", *args])
    assert no_reason.exit_code == 1 and "--force needs --reason" in no_reason.output
    unknown = run(app, ["promote", "task-99", "--version", "1", *args])
    assert unknown.exit_code == 1 and "no registered model 'llm2slm-task-99'" in unknown.output

    forced = run(app, ["promote", "task-03", "--version", "2", "--force", "--reason", "new intent", *args])
    assert forced.exit_code == 0, forced.output
    assert alias_version(client, "llm2slm-task-03", "champion") == "2"
    back = run(app, ["rollback", "task-03", "--reason", "regression", *args])
    assert back.exit_code == 0 and "champion -> version 1" in back.output
    trail = run(app, ["history", "task-03", "--json", *args])
    events = [json.loads(line) for line in trail.output.splitlines()]
    assert {"force-promote", "rollback", "lost"} <= {e["action"] for e in events}
    assert {e["by"] for e in events if e["action"] != "set"} >= {"release-manager"}
    again = run(app, ["rollback", "task-03", *args])
    assert again.exit_code == 1 and "no previous champion" in again.output
