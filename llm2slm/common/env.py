"""Process environment that keeps every tool offline, quiet and inside the project's home folder.

Prefect, MLflow, Ray, numba and Hugging Face read their settings from environment variables, some at import time,
so `prepare_environment` must run before any of them is imported (the CLI and the test suite call it first).
Values the user already set are kept, except where noted.
"""

from __future__ import annotations

import os
from llm2slm.common.config import Config


def quiet_offline_defaults() -> dict[str, str]:
    """Settings that do not depend on where the project lives."""
    return {
        # Hugging Face: never reach a hub unless the user turns this off to name a hub model.
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "TOKENIZERS_PARALLELISM": "false",
        # MLflow: telemetry writes into the home folder; progress bars clutter logs.
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        # Prefect: embedded server, no analytics, slow 2-core cold starts allowed.
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        # Ray: no token in the home folder, no usage stats.
        "RAY_AUTH_MODE": "disabled",
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_TRAIN_V2_ENABLED": "1",
        "RAY_DEDUP_LOGS": "1",
        "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
        # DVC
        "DVC_NO_ANALYTICS": "1",
        # Presidio's email recogniser would fetch the public suffix list.
        "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "",
        "PYTHONWARNINGS": os.environ.get("PYTHONWARNINGS", "ignore::DeprecationWarning"),
    }


def apply_quiet_offline_defaults() -> None:
    """Set `quiet_offline_defaults()` in this process, keeping any value the user already set (scripts)."""
    for key, value in quiet_offline_defaults().items():
        os.environ.setdefault(key, value)


def prepare_environment(config: Config) -> dict[str, str]:
    """Set the environment for a run under `config.paths.home`; returns what was set."""
    home = config.paths.home
    for folder in (home, config.paths.prefect_home, config.paths.mlflow_dir, config.paths.ray_dir):
        folder.mkdir(parents=True, exist_ok=True)
    if home.stat().st_uid == os.getuid():  # it holds captured text (datasets, examples, MLflow artifacts)
        home.chmod(0o700)
    values = quiet_offline_defaults()
    values.update(
        {
            "PREFECT_HOME": str(config.paths.prefect_home),
            "PREFECT_UI_STATIC_DIRECTORY": str(config.paths.prefect_ui),
            "MLFLOW_TRACKING_URI": config.mlflow_tracking_uri,
            "NUMBA_CACHE_DIR": str(home / "numba"),
            "MPLCONFIGDIR": str(home / "matplotlib"),
            "HF_HOME": str(home / "hf"),
            "RAY_TMPDIR": str(config.paths.ray_dir),
            "XDG_CACHE_HOME": str(home / "cache"),
        }
    )
    applied = {}
    for key, value in values.items():
        if os.environ.get(key) is not None:
            continue  # the user's own setting wins
        os.environ[key] = value
        applied[key] = value
    return applied


def hub_offline() -> bool:
    """Whether the Hugging Face hub is off (HF_HUB_OFFLINE=1, what `prepare_environment` sets unless the user
    turned it off to name hub models)."""
    return os.environ.get("HF_HUB_OFFLINE", "0") == "1"
