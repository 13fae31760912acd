"""A project per test whose datasets folder is the test's own: the tasks read and write through the artifact
catalogue, so a test lays its inputs where the catalogue names them (the captured calls in the run's own store)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm2slm.capture import open_store
from llm2slm.capture.export import ExportManifest
from llm2slm.common.artifacts import Artifacts
from llm2slm.common.config import Config, load_config
from llm2slm.common.schema import CallRecord
from tasks.export import export


def project_config(folder: Path, **overrides) -> Config:
    return load_config(folder, home=folder / "home", overrides={"data_dir": str(folder / "data"), **overrides})


@pytest.fixture
def cfg(tmp_path) -> Config:
    return project_config(tmp_path)


@pytest.fixture
def art(cfg) -> Artifacts:
    return Artifacts(cfg.paths)


def capture(cfg: Config, records: list[CallRecord]) -> ExportManifest:
    """Store the records in the run's encrypted call store and run the export stage on it: what the curate stage
    reads is then in place."""
    with open_store(cfg) as store:
        store.append(records)
    return export.fn(cfg)
