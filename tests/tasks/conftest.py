"""A project per test whose datasets folder is the test's own: the tasks read and write through the artifact
catalogue, so a test lays its inputs where the catalogue names them."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm2slm.common.artifacts import Artifacts
from llm2slm.common.config import Config, load_config


def project_config(folder: Path, **overrides) -> Config:
    return load_config(folder, home=folder / "home", overrides={"data_dir": str(folder / "data"), **overrides})


@pytest.fixture
def cfg(tmp_path) -> Config:
    return project_config(tmp_path)


@pytest.fixture
def art(cfg) -> Artifacts:
    return Artifacts(cfg.paths)
