"""Dataset versions: record each data stage in dvc.lock and the DVC cache, then push to the remote.

DVC versions the datasets of the home that params.yaml names (dvc.yaml's paths); a run moved elsewhere with
`--home` or $LLM2SLM_HOME writes the same files there, unversioned, and says so. Pushing can fail transiently
(object storage at scale), so it is retried.
"""

from __future__ import annotations

import logging

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


@task(name="dvc-commit")
def version_stage(cfg: Config, stage: str) -> None:
    if cfg.paths.dvc_versioned:
        commit_stage(cfg.paths.project, stage)


@task(name="dvc-push", retries=2, retry_delay_seconds=5)
def push_datasets(cfg: Config) -> dict[str, str]:
    """Push the cache to the remote; returns the datasets' DVC hashes ({} when not versioned)."""
    if not cfg.paths.dvc_versioned:
        return {}
    push(cfg.paths.project)
    art = Artifacts(cfg.paths)
    return {key: hash_of(cfg.paths.project, art.path(key)) for key in HASHED}
