"""`--home` (or $LLM2SLM_HOME) moves everything a run writes: the call store and the keys together."""

from __future__ import annotations

import shutil

from typer.testing import CliRunner

from llm2slm.cli import app
from tests.factories import make_record, record_line


def test_a_moved_home_holds_its_own_store_and_keys(tmp_path, monkeypatch, repo_root):
    for key in ("LLM2SLM_MASTER_KEY", "MLFLOW_TRACKING_URI", "XDG_CACHE_HOME"):  # the CLI sets the last two
        monkeypatch.delenv(key, raising=False)
    shutil.copy(repo_root / "params.yaml", tmp_path / "params.yaml")  # names the store and data folders
    calls = tmp_path / "calls.jsonl"
    calls.write_text("".join(record_line(make_record(i, f"question {i}")) for i in range(3)))
    runner = CliRunner()
    first = runner.invoke(app, ["ingest", str(calls), "--project", str(tmp_path)])
    assert first.exit_code == 0, first.output
    assert "3 stored" in first.output
    moved = tmp_path / "elsewhere"
    second = runner.invoke(app, ["ingest", str(calls), "--project", str(tmp_path), "--home", str(moved)])
    assert second.exit_code == 0, second.output
    assert "3 stored, 0 already in the store" in second.output
    assert any((moved / "store").iterdir()) and (moved / "keys" / "master.key").is_file()
    monkeypatch.setenv("LLM2SLM_HOME", str(moved))
    third = runner.invoke(app, ["ingest", str(calls), "--project", str(tmp_path)])
    assert third.exit_code == 0 and "0 stored, 3 already in the store" in third.output, third.output
