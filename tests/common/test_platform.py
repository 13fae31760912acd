"""The one-machine platform's pure parts: ports, the worker's environment, the code folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm2slm.common.config import load_config
from llm2slm.common.platform import Layout, code_folder, resolve_ports, worker_env


def test_ports_come_from_options_then_variables_then_defaults():
    ports = resolve_ports({"prefect": 4300, "mlflow": None, "gateway": None}, 8787,
                          env={"LLM2SLM_PLATFORM_MLFLOW_PORT": "5100"})
    assert (ports.prefect, ports.mlflow, ports.gateway) == (4300, 5100, 8787)
    assert ports.prefect_api == "http://127.0.0.1:4300/api"
    with pytest.raises(ValueError, match=r"\$LLM2SLM_PLATFORM_PREFECT_PORT='x' is not a port number"):
        resolve_ports({}, 8787, env={"LLM2SLM_PLATFORM_PREFECT_PORT": "x"})
    with pytest.raises(ValueError, match="two services were given one port"):
        resolve_ports({"prefect": 5000}, 8787, env={})


def test_the_worker_knows_the_code_folder_and_the_project_apart(tmp_path, monkeypatch):
    """A flow run starts in the code folder (the pull step reads $LLM2SLM_CODE_DIR); `prefect deploy` writes
    $LLM2SLM_PROJECT into the deployments' project_dir."""
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    cfg = load_config(tmp_path)
    code = Path("/srv/llm2slm")
    env = worker_env(cfg, Layout.of(cfg), resolve_ports({}, 8787, env={}), code)
    assert (env["LLM2SLM_CODE_DIR"], env["LLM2SLM_PROJECT"]) == (str(code), str(tmp_path))
    assert env["LLM2SLM_HOME"] == str(tmp_path / ".llm2slm")
    assert env["PYTHONPATH"].split(":") == [str(code), "/elsewhere"]
    assert env["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5000"


def test_a_project_without_the_flows_runs_them_from_the_checkout(tmp_path, repo_root):
    assert code_folder(tmp_path, str(repo_root / "llm2slm" / "__init__.py")) == repo_root
    assert code_folder(repo_root, str(tmp_path / "llm2slm" / "__init__.py")) == repo_root
    with pytest.raises(ValueError, match="holds infra/prefect.yaml and flows/"):
        code_folder(tmp_path, str(tmp_path / "pkg" / "llm2slm" / "__init__.py"))
