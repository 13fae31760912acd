"""Dataset versions: record each data stage in dvc.lock and the DVC cache, then push to the remote.

DVC versions the datasets of the home that params.yaml names (dvc.yaml's paths); a run moved elsewhere with
`--home` or $LLM2SLM_HOME writes the same files there, unversioned, and says so. Pushing can fail transiently
(object storage at scale), so it is retried. `dvc commit` puts back a stage's outputs from its cache with default
permissions, so the owner-only modes of the datasets that hold (scrubbed) captured text are restored after it.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from prefect import task

from llm2slm.common.artifacts import Artifacts
from llm2slm.common.config import Config
from llm2slm.lineage.dvc import commit_stage, ensure_repo, hash_of, push

log = logging.getLogger("llm2slm.versioning")
HASHED = ("raw_manifest", "curated", "tasks")  # the datasets whose DVC hashes tag every run of the conversion


@task(name="dvc-init")
def init_versioning(cfg: Config) -> bool:
    """Point the project's DVC repository at this home's cache and remote; False when DVC cannot version it."""
    if not cfg.paths.dvc_versioned:
        log.warning("the run's home %s is not the one params.yaml names (dvc.yaml's paths): its datasets are "
                    "written but not versioned by DVC", cfg.paths.home)
        return False
    ensure_repo(cfg.paths.project, cfg.paths.dvc_cache, cfg.paths.dvc_remote)
    return True


def _modes(roots: list[Path]) -> dict[Path, int]:
    """The permission bits of every file and folder under `roots` (those that exist)."""
    paths = [p for root in roots if root.exists() for p in (root, *(root.rglob("*") if root.is_dir() else ()))]
    return {p: stat.S_IMODE(p.stat().st_mode) for p in paths}


@task(name="dvc-commit")
def version_stage(cfg: Config, stage: str) -> None:
    if cfg.paths.dvc_versioned:
        modes = _modes([cfg.paths.data_dir])
        commit_stage(cfg.paths.project, stage)
        for path, mode in modes.items():
            if path.exists() and stat.S_IMODE(path.stat().st_mode) != mode:
                os.chmod(path, mode)


@task(name="dvc-push", retries=2, retry_delay_seconds=5)
def push_datasets(cfg: Config) -> dict[str, str]:
    """Push the cache to the remote; returns the datasets' DVC hashes ({} when not versioned)."""
    if not cfg.paths.dvc_versioned:
        return {}
    push(cfg.paths.project)
    art = Artifacts(cfg.paths)
    return {key: hash_of(cfg.paths.project, art.path(key)) for key in HASHED}
