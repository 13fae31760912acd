"""The evaluate task's raw calls: the test rows' calls read back from a real encrypted store (curator role), and the
skip, with one warning, when the store cannot be read."""

from __future__ import annotations

import logging

import pytest

from llm2slm.capture import MasterKey, open_keyring, open_store
from llm2slm.capture.keys import Role
from llm2slm.common.artifacts import Artifacts
from llm2slm.common.config import Config, EvaluateConfig
from llm2slm.common.snapshot import read_snapshot
from llm2slm.discovery.split import to_example
from llm2slm.evaluation.evaluate import evaluate_specialist, sample_rows
from tasks.curate import curate
from tasks.evaluate import captured_test_rows
from tests.factories import PlaceholderSpotter, make_record
from tests.tasks.conftest import capture, project_config


def _records() -> list:
    """Ten calls, six with an e-mail address (the LLM answers `contact`), and a failed call curation drops."""
    calls = [make_record(i, f"case {i}: write to ann{i}@mail.com" if i < 6 else f"case {i}: please call me",
                         answer="contact" if i < 6 else "other") for i in range(10)]
    return calls + [make_record(10, "boom", answer="", status="error", finish_reason="error")]


@pytest.fixture
def curated(tmp_path) -> tuple[Config, list[dict]]:
    """A project whose store holds the calls and whose curated snapshot (e-mails as placeholders) gives the rows."""
    cfg = project_config(tmp_path, curate={"policy": {"EMAIL": "placeholder"}, "dedup": "exact"})
    capture(cfg, _records())
    curate.fn(cfg)
    return cfg, [to_example(r) for r in read_snapshot(Artifacts(cfg.paths).curated)]


def test_the_test_rows_calls_come_back_as_captured_for_the_same_ids(curated):
    cfg, rows = curated
    sampled = sample_rows(rows, 5, seed=1)
    raw = captured_test_rows(cfg, "task-01", sampled)
    assert raw.skipped == "" and [r["id"] for r in raw.rows] == [r["id"] for r in sampled]
    by_id = {r["id"]: r for r in raw.rows}
    for row in sampled:
        i = int(row["id"].rsplit("-", 1)[1])
        if i < 6:
            assert row["messages"][-1]["content"] == f"case {i}: write to <EMAIL_1>"
            assert by_id[row["id"]]["messages"][-1]["content"] == f"case {i}: write to ann{i}@mail.com"
        else:
            assert by_id[row["id"]] == row  # no personal data: the rows are the same
    assert "call-000010" not in {r["id"] for r in captured_test_rows(cfg, "task-01", rows).rows}  # curation dropped it


def test_scrubbed_and_raw_agreement_differ_where_the_specialist_leans_on_scrubbing(curated):
    cfg, rows = curated
    assert len(rows) == 10
    result = evaluate_specialist("task-01", PlaceholderSpotter(), rows, "closed_label", EvaluateConfig(latency_calls=2),
                                 {}, "spotter", captured_test_rows(cfg, "task-01", rows))
    assert result.agreement == 1.0 and result.raw_agreement == pytest.approx(0.4) and result.n_raw == 10


def _skipped(cfg: Config, caplog) -> str:
    caplog.set_level(logging.WARNING, logger="llm2slm.evaluate")
    raw = captured_test_rows(cfg, "task-01", [{"id": "call-000001"}])
    warnings = [r.getMessage() for r in caplog.records if r.name == "llm2slm.evaluate"]
    assert raw.rows == [] and warnings == [f"task task-01: no agreement on raw traffic, {raw.skipped}"]
    assert raw.skipped.startswith("the call store could not be read: ")
    return raw.skipped


def test_no_store_is_skipped_with_one_warning_and_creates_no_key(tmp_path, caplog):
    cfg = project_config(tmp_path)
    assert f"no call store at {cfg.paths.store}" in _skipped(cfg, caplog)
    assert not (cfg.paths.home / "keys").exists() and not cfg.paths.store.exists()


def test_a_store_without_the_export_manifest_is_skipped(tmp_path, caplog):
    cfg = project_config(tmp_path)
    with open_store(cfg) as store:
        store.append(_records())
    assert "export manifest not found" in _skipped(cfg, caplog)


def test_the_wrong_master_key_is_skipped(curated, caplog, monkeypatch):
    cfg, _ = curated
    monkeypatch.setenv(cfg.capture.master_key_env, MasterKey.generate().to_text())
    assert "master key" in _skipped(cfg, caplog)


def test_a_key_without_the_curator_role_is_skipped(curated, caplog, monkeypatch):
    cfg, _ = curated
    monkeypatch.setenv(cfg.capture.api_key_env, open_keyring(cfg).create("an agent", Role.AGENT))
    assert "has role agent" in _skipped(cfg, caplog)
