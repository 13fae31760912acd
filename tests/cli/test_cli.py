"""The `llm2slm` command through Typer's runner: help, the exit-code policy, the shared options, the tables."""

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from llm2slm.cli import app
from llm2slm.cli.common import AUTH, FAILED, INTERRUPTED, USAGE
from llm2slm.cli.ui import ui_commands
from llm2slm.common.config import load_config

CLI_DIR = Path(__file__).resolve().parents[2] / "llm2slm" / "cli"


def test_help_names_every_command_and_the_exit_codes():
    result = CliRunner().invoke(app, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    for command in ("ingest", "convert", "retrain", "demo", "stage", "schema", "ui", "promote", "rollback", "history"):
        assert command in result.output
    epilog = " ".join(result.output.split())
    for code, meaning in ((FAILED, "the command ran and failed"), (USAGE, "usage or configuration error"),
                          (AUTH, "API key refused"), (INTERRUPTED, "interrupted")):
        assert f"{code} {meaning}" in epilog


def test_the_common_options_are_defined_once_and_no_private_cli_name_is_imported():
    sources = {path.name: path.read_text() for path in CLI_DIR.glob("*.py")}
    for option in ('"--project"', '"--home"'):
        assert [name for name, text in sources.items() if option in text] == ["common.py"], option
    for name, text in sources.items():
        assert not re.search(r"from llm2slm\.cli(\.\w+)? import .*\b_\w+", text), name
        assert "def _fail" not in text and "def _setup" not in text, name


def test_every_command_takes_project_and_home_with_the_same_help():
    helps = {}
    for command in (["ingest"], ["convert"], ["stage"], ["history"], ["keys", "list"], ["gateway"], ["ui"]):
        text = " ".join(CliRunner().invoke(app, [*command, "--help"], terminal_width=300).output.split())
        helps[" ".join(command)] = re.search(r"--home (.*?\.llm2slm\)\.)", text).group(1)
    assert len(set(helps.values())) == 1, helps


def test_ui_binds_both_servers_to_loopback_on_the_projects_stores(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = load_config(tmp_path)
    mlflow_cmd, prefect_cmd = ui_commands(cfg, 5000, 4200)
    assert mlflow_cmd[mlflow_cmd.index("--host") + 1] == "127.0.0.1"
    assert prefect_cmd[prefect_cmd.index("--host") + 1] == "127.0.0.1"
    assert cfg.mlflow_tracking_uri in mlflow_cmd and str(tmp_path) in mlflow_cmd[-1]


def test_an_unknown_stage_is_a_usage_error(tmp_path):
    (tmp_path / "params.yaml").write_text("{}\n")
    result = CliRunner().invoke(app, ["stage", "bogus", "--project", str(tmp_path)])
    assert result.exit_code == USAGE
    assert "unknown stage 'bogus'" in result.output


def test_an_invalid_params_file_is_a_usage_error_naming_the_field(tmp_path):
    (tmp_path / "params.yaml").write_text("split:\n  val_fraction: 2\n")
    result = CliRunner().invoke(app, ["convert", "--project", str(tmp_path)])
    assert result.exit_code == USAGE
    assert "error: invalid configuration" in result.output and "split.val_fraction" in result.output


def test_convert_on_an_empty_store_is_a_usage_error_before_anything_starts(tmp_path):
    (tmp_path / "params.yaml").write_text("{}\n")
    result = CliRunner().invoke(app, ["convert", "--project", str(tmp_path)])
    assert result.exit_code == USAGE and "is empty: run `llm2slm ingest" in result.output
    too_small = CliRunner().invoke(app, ["demo", "--sample", "5", "--project", str(tmp_path)])
    assert too_small.exit_code == USAGE and "--sample 5: use at least 20 calls" in too_small.output


def test_retrain_before_any_conversion_is_a_usage_error_naming_the_missing_assigner(tmp_path):
    (tmp_path / "params.yaml").write_text("{}\n")
    result = CliRunner().invoke(app, ["retrain", "--project", str(tmp_path)], terminal_width=300)
    assert result.exit_code == USAGE
    assert f"no conversion to retrain: {tmp_path / '.llm2slm' / 'data' / 'assigner.json'} does not exist" in \
        " ".join(result.output.split())
    (tmp_path / "params.yaml").write_text("retrain:\n  shift_p_value: 2\n")
    bad = CliRunner().invoke(app, ["retrain", "--project", str(tmp_path)])
    assert bad.exit_code == USAGE and "retrain.shift_p_value" in bad.output


def test_an_invalid_gateway_option_names_the_field(tmp_path):
    (tmp_path / "params.yaml").write_text("{}\n")
    result = CliRunner().invoke(app, ["gateway", "--port", "0", "--upstream", "ftp://x", "--project", str(tmp_path)])
    assert result.exit_code == USAGE
    assert "invalid gateway option: port: " in result.output and "; upstream_base_url: " in result.output


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
    assert failed.exit_code == FAILED and "gate failed" in failed.output
    assert "agreement 0.500 < threshold" in failed.output
    assert alias_version(client, "llm2slm-task-03", "champion") == "1"
    no_reason = run(app, ["promote", "task-03", "--version", "2", "--force", *args])
    assert no_reason.exit_code == USAGE and "--force needs --reason" in no_reason.output
    unknown = run(app, ["promote", "task-99", "--version", "1", *args])
    assert unknown.exit_code == FAILED and "no registered model 'llm2slm-task-99'" in unknown.output

    forced = run(app, ["promote", "task-03", "--version", "2", "--force", "--reason", "new intent", *args])
    assert forced.exit_code == 0, forced.output
    assert alias_version(client, "llm2slm-task-03", "champion") == "2"
    back = run(app, ["rollback", "task-03", "--reason", "regression", *args])
    assert back.exit_code == 0 and "champion -> version 1" in back.output
    trail = run(app, ["history", "task-03", "--json", *args])
    events = [json.loads(line) for line in trail.output.splitlines()]
    assert {"force-promote", "rollback", "lost"} <= {e["action"] for e in events}
    assert {e["by"] for e in events if e["action"] != "set"} >= {"release-manager"}
    table = run(app, ["history", "task-03", *args])
    assert table.exit_code == 0 and "\x1b[" not in table.stdout
    lines = table.stdout.splitlines()
    assert lines[1].split() == ["at", "version", "action", "alias", "by", "why"]
    rows = [line for line in lines if "release-manager" in line]
    assert any("force-promote" in r and "new intent" in r for r in rows) and any("regression" in r for r in rows)
    again = run(app, ["rollback", "task-03", *args])
    assert again.exit_code == FAILED and "no previous champion" in again.output
