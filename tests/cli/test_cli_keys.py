"""`llm2slm keys ...`, `llm2slm export` and `llm2slm ingest --format otel` through the real command."""

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llm2slm.cli import app
from llm2slm.common.snapshot import read_snapshot
from tests.factories import make_record, record_line

FIXTURE = Path(__file__).parents[1] / "capture" / "fixtures" / "otlp_genai_trace.json"


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.delenv("LLM2SLM_MASTER_KEY", raising=False)
    monkeypatch.delenv("LLM2SLM_API_KEY", raising=False)
    (tmp_path / "params.yaml").write_text("{}\n")
    return tmp_path


def run(project, *args, key=None):
    extra = ["--api-key", key] if key else []
    return CliRunner().invoke(app, [*args, *extra, "--project", str(project)])


def create(project, name, role, key=None):
    result = run(project, "keys", "create", "--name", name, "--role", role, key=key)
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[0]


def test_first_admin_bootstrap_then_admin_only_key_management(project):
    admin = create(project, "ops", "admin")
    refused = run(project, "keys", "create", "--name", "ops2", "--role", "admin")
    assert refused.exit_code == 3 and "401: missing API key" in refused.output
    agent = create(project, "bot", "agent", key=admin)
    assert run(project, "keys", "list", key=agent).exit_code == 3
    listed = run(project, "keys", "list", "--json", key=admin)
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert {(r["name"], r["role"]) for r in rows} == {("ops", "admin"), ("bot", "agent")}
    assert agent.split("_", 2)[2] not in listed.output
    shown = run(project, "keys", "list", key=admin)
    assert shown.exit_code == 0 and "\x1b[" not in shown.stdout
    header, *lines = [line.split() for line in shown.stdout.splitlines() if line.strip() and "─" not in line]
    assert header == ["id", "role", "name", "created", "state"]
    assert {(c[1], c[2], c[-1]) for c in lines} == {("admin", "ops", "active"), ("agent", "bot", "active")}
    assert run(project, "keys", "revoke", agent.split("_")[1], key=admin).exit_code == 0
    revoked = run(project, "keys", "list", key=agent)
    assert revoked.exit_code == 3 and "revoked" in revoked.output
    assert run(project, "keys", "revoke", "ffffffffffff", key=admin).exit_code == 1


def test_export_writes_scrubbed_parquet_for_a_curator_and_refuses_other_roles(project):
    trace = project / "calls.jsonl"
    texts = [f"q{i}" if i != 3 else "q3, reply to ann.lee@mail.com" for i in range(6)]
    trace.write_text("".join(record_line(make_record(i, text)) for i, text in enumerate(texts)))
    assert run(project, "ingest", str(trace)).exit_code == 0
    admin = create(project, "ops", "admin")
    curator = create(project, "pipeline", "curator", key=admin)
    out = project / "snap.parquet"
    result = run(project, "export", "--out", str(out), "--since", "2026-10-01T00:02:00Z", "--until",
                 "2026-10-01T00:05:00", key=curator)
    assert result.exit_code == 0, result.output
    assert [r.id for r in read_snapshot(out)] == ["call-000002", "call-000003", "call-000004"]
    assert "scrubbed calls" in result.output
    scrubbed = read_snapshot(out)[1].last_user_message()
    assert scrubbed.startswith("q3, reply to ") and "ann.lee@mail.com" not in scrubbed and "@" in scrubbed
    out.unlink()
    for key, status in ((admin, "403"), (None, "401")):
        refused = run(project, "export", "--out", str(out), key=key)
        assert refused.exit_code == 3 and f"error: {status}" in refused.output and not out.exists()
    assert "curator" in run(project, "export", "--out", str(out)).output


def test_rotate_master_keeps_the_store_readable_and_otel_ingest(project):
    assert run(project, "ingest", "--format", "otel", str(FIXTURE)).exit_code == 0
    admin = create(project, "ops", "admin")
    curator = create(project, "pipeline", "curator", key=admin)
    assert run(project, "keys", "rotate-master", key=curator).exit_code == 3
    rotated = run(project, "keys", "rotate-master", key=admin)
    assert rotated.exit_code == 0 and "re-wrapped" in rotated.output
    out = project / "snap.parquet"
    assert run(project, "export", "--out", str(out), key=curator).exit_code == 0
    assert {r.span_id for r in read_snapshot(out)} >= {"00f067aa0ba902b7", "e457b5a2e4d86bd1"}


def test_stage_export_bootstraps_the_local_pipeline_key(project):
    trace = project / "calls.jsonl"
    trace.write_text("".join(record_line(make_record(i, f"q{i}")) for i in range(3)))
    assert run(project, "ingest", str(trace)).exit_code == 0
    result = run(project, "stage", "export")
    assert result.exit_code == 0 and "export: 3 calls" in result.output
    assert (project / ".llm2slm" / "keys" / "pipeline.key").is_file()
    data = project / ".llm2slm" / "data"
    assert sorted(p.name for p in data.iterdir()) == ["raw_manifest.json"]


def test_stage_curate_refuses_a_store_that_changed_since_export(project):
    trace = project / "calls.jsonl"
    trace.write_text("".join(record_line(make_record(i, f"q{i}")) for i in range(3)))
    assert run(project, "ingest", str(trace)).exit_code == 0
    assert run(project, "stage", "export").exit_code == 0
    shutil.rmtree(project / ".llm2slm" / "store")
    trace.write_text("".join(record_line(make_record(i, f"q{i}")) for i in range(1, 9)))
    assert run(project, "ingest", str(trace)).exit_code == 0
    result = run(project, "stage", "curate")
    assert result.exit_code == 1 and "changed since export" in result.output and "Re-run the export" in result.output
    assert not (project / ".llm2slm" / "data" / "curated.parquet").exists()


def test_help_lists_the_key_and_export_commands():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0 and "keys" in result.output and "export" in result.output
    keys_help = CliRunner().invoke(app, ["keys", "--help"])
    for command in ("create", "list", "revoke", "rotate-master"):
        assert command in keys_help.output
