"""Dataset versions with DVC: the project folder is a DVC repository whose cache and default remote live under
the run's home (set in `.dvc/config.local`, which is never committed).

The flow runs each data stage itself and then records it with `dvc commit` (outputs hashed into dvc.lock and
copied into the cache) and finally pushes to the remote, so the lock names exactly the data a model was trained on.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import yaml

from llm2slm.common.files import private_dir

log = logging.getLogger("llm2slm.lineage.dvc")

DATA_STAGES = ("export", "curate", "cluster", "split")


def _repo_class():
    """DVC's `Repo`, with DVC's own stdout logging (it sets its logger to INFO when imported) kept to warnings:
    the steps it takes are logged here instead."""
    from dvc.repo import Repo

    logging.getLogger("dvc").setLevel(logging.WARNING)
    return Repo


def ensure_repo(project: Path, cache: Path, remote: Path) -> None:
    """Initialise DVC in `project` if needed (inside git when the folder is a git work tree) and point its cache
    and its default remote `local` at folders of our own."""
    Repo = _repo_class()
    project = Path(project)
    if not (project / ".dvc").is_dir():
        git_root = _git_root(project)
        Repo.init(str(project), no_scm=git_root is None, subdir=git_root is not None and git_root != project)
        log.info("initialised DVC in %s", project)
    private_dir(cache)  # the scrubbed datasets' copies: readable by their owner only, like the datasets
    private_dir(remote)
    (project / ".dvc" / "config.local").write_text(
        "[core]\n    remote = local\n    analytics = false\n"
        f"[cache]\n    dir = {cache}\n"
        f"['remote \"local\"']\n    url = {remote}\n"
    )


def _git_root(folder: Path) -> Path | None:
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def commit_stage(project: Path, stage: str) -> None:
    """Record a stage's current deps, params and outputs in dvc.lock and the cache, without re-running it."""
    Repo = _repo_class()

    with contextlib.chdir(project), Repo(str(project)) as repo:
        repo.commit(f"dvc.yaml:{stage}", force=True)
    log.info("dvc: committed stage %s", stage)


def push(project: Path) -> None:
    Repo = _repo_class()

    with contextlib.chdir(project), Repo(str(project)) as repo:
        repo.push()


def out_hashes(project: Path) -> dict[str, str]:
    """Output path (relative to the project) -> DVC md5, read from dvc.lock."""
    lock = Path(project) / "dvc.lock"
    if not lock.is_file():
        return {}
    data = yaml.safe_load(lock.read_text()) or {}
    hashes: dict[str, str] = {}
    for stage in (data.get("stages") or {}).values():
        for out in stage.get("outs", []):
            hashes[out["path"]] = out.get("md5", "")
    return hashes


def hash_of(project: Path, path: Path) -> str:
    relative = str(Path(path).resolve().relative_to(Path(project).resolve()))
    return out_hashes(project).get(relative, "")


def status(project: Path) -> dict:
    Repo = _repo_class()

    with contextlib.chdir(project), Repo(str(project)) as repo:
        return repo.status()
