import shutil
import stat
import subprocess

import pytest

from llm2slm.common.artifacts import Artifacts
from llm2slm.common.config import load_config
from llm2slm.capture import open_store, pipeline_principal
from llm2slm.capture.export import export_manifest
from llm2slm.lineage.dvc import commit_stage, ensure_repo, hash_of, out_hashes, push, status
from tasks.curate import curate
from tasks.export import export
from tasks.version import init_versioning, version_stage
from tests.factories import make_record


@pytest.fixture
def project(tmp_path, repo_root):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "config", "user.email", "t@example.com"], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "config", "user.name", "t"], check=True)
    for name in ("params.yaml", "dvc.yaml", ".gitignore"):
        shutil.copy(repo_root / name, tmp_path / name)
    return tmp_path


def test_a_committed_stage_is_clean_hashed_and_pushed(project):
    cfg = load_config(project)
    ensure_repo(project, cfg.paths.dvc_cache, cfg.paths.dvc_remote)
    open_store(cfg).append([make_record(i, f"write to q{i}@planted.example") for i in range(3)])
    manifest = Artifacts(cfg.paths).raw_manifest
    export_manifest(open_store(cfg), pipeline_principal(cfg), manifest)
    commit_stage(project, "export")
    digest = hash_of(project, manifest)
    assert len(digest) == 32
    assert "export" not in status(project)
    push(project)
    assert any(cfg.paths.dvc_remote.rglob("*")), "the remote holds the pushed data"
    assert cfg.paths.dvc_cache.is_relative_to(cfg.paths.home)
    assert {stat.S_IMODE(p.stat().st_mode) for p in (cfg.paths.dvc_cache, cfg.paths.dvc_remote)} == {0o700}
    # what DVC cached and pushed is the manifest, which holds no call text
    for folder in (cfg.paths.dvc_cache, cfg.paths.dvc_remote):
        assert not any(b"@planted.example" in f.read_bytes() for f in folder.rglob("*") if f.is_file())
    # a change to the store makes the stage stale again
    open_store(cfg).append([make_record(9, "new")])
    assert "export" in status(project)


def test_versioning_keeps_the_datasets_owner_only(project):
    cfg = load_config(project)
    init_versioning.fn(cfg)
    open_store(cfg).append([make_record(i, f"write to q{i}@planted.example") for i in range(3)])
    export.fn(cfg)
    version_stage.fn(cfg, "export")
    curate.fn(cfg)
    version_stage.fn(cfg, "curate")  # dvc commit puts the outputs back from its cache
    art = Artifacts(cfg.paths)
    assert stat.S_IMODE(art.curated.stat().st_mode) == 0o600
    assert stat.S_IMODE(cfg.paths.data_dir.stat().st_mode) == 0o700
    assert "curate" not in status(project)


def test_outside_git_dvc_runs_without_scm(tmp_path, repo_root):
    shutil.copy(repo_root / "params.yaml", tmp_path / "params.yaml")
    cfg = load_config(tmp_path)
    ensure_repo(tmp_path, cfg.paths.dvc_cache, cfg.paths.dvc_remote)
    assert (tmp_path / ".dvc").is_dir() and out_hashes(tmp_path) == {}
