"""`dvc repro` of the curate and cluster stages in a temporary git repository reproduces byte-identical outputs.

`dvc repro` runs the export, curate and cluster stages on a small synthetic trace in the call store; then the
curate and cluster outputs are deleted (the task-id registry with them, as in a fresh clone) and the stages are
forced to run again without DVC's run cache: every output must come back with the hash dvc.lock recorded.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from llm2slm.capture import open_store
from llm2slm.common.config import load_config
from llm2slm.lineage.dvc import ensure_repo, out_hashes
from tests.discovery.synthetic import trace

OUTS = ("curated.parquet", "curate_audit.json", "catalogue.json", "catalogue.png", "catalogue.html", "assigner.npz",
        "assigner.json", "assignments.parquet", "task_registry.json")


def _dvc(project: Path, *args: str) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "DVC_NO_ANALYTICS": "1"}
    done = subprocess.run([str(Path(sys.executable).parent / "dvc"), *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_dvc_repro_of_curate_and_cluster_is_byte_identical(tmp_path, repo_root):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    for name in ("params.yaml", "dvc.yaml", ".gitignore"):
        shutil.copy(repo_root / name, tmp_path / name)
    cfg = load_config(tmp_path)
    ensure_repo(tmp_path, cfg.paths.dvc_cache, cfg.paths.dvc_remote)
    records, _ = trace({"triage": 120, "extract": 90, "tools": 60}, seed=5)
    data = cfg.paths.data_dir
    with open_store(cfg) as store:
        store.append(records)

    for stage in ("export", "curate", "cluster"):
        _dvc(tmp_path, "repro", "--single-item", stage)
    first = {name: _md5(data / name) for name in OUTS}
    locked = out_hashes(tmp_path)
    prefix = str(data.relative_to(tmp_path))
    assert all(locked[f"{prefix}/{name}"] == first[name] for name in OUTS if name != "curate_audit.json")

    for name in OUTS:
        (data / name).unlink()
    for stage in ("curate", "cluster"):
        _dvc(tmp_path, "repro", "--force", "--no-run-cache", "--single-item", stage)
    assert {name: _md5(data / name) for name in OUTS} == first
    assert out_hashes(tmp_path) == locked
