from typer.testing import CliRunner

from llm2slm.cli import app
from llm2slm.config import load_config
from llm2slm.servers import ui_commands


def test_help_names_every_command():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("ingest", "convert", "demo", "stage", "schema", "ui"):
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
