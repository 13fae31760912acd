"""Test-wide environment: offline, quiet, and every tool writing under one temporary folder.

This runs before any test module imports Prefect, MLflow or Ray, which read some settings at import time.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from llm2slm.common.env import quiet_offline_defaults

_BASE = Path(tempfile.mkdtemp(prefix="l2s-"))
for _key, _value in quiet_offline_defaults().items():
    os.environ[_key] = _value
for _key in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS", "PREFECT_API_URL", "LLM2SLM_HOME"):
    os.environ.pop(_key, None)
os.environ.update(
    {
        "PREFECT_HOME": str(_BASE / "prefect"),
        "NUMBA_CACHE_DIR": str(_BASE / "numba"),
        "MPLCONFIGDIR": str(_BASE / "mpl"),
        "HF_HOME": str(_BASE / "hf"),
        "RAY_TMPDIR": str(_BASE / "ray"),
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    }
)

REPO = Path(__file__).resolve().parents[1]
# the packaged SmolLM2 is converted once (~20 s) into a cache kept between test runs (git ignores .pytest_cache)
os.environ.setdefault("LLM2SLM_MODEL_CACHE", str(REPO / ".pytest_cache" / "llm2slm-models"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


def pytest_sessionfinish(session, exitstatus):  # noqa: ARG001
    shutil.rmtree(_BASE, ignore_errors=True)
