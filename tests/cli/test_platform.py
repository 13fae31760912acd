"""The one-machine platform, run for real: `llm2slm platform start` (a Prefect server, a worker on a process pool,
an MLflow server, the gateway), the convert deployment run through `prefect deployment run` on a small project
that is not the code checkout, the registry read over the MLflow server's REST API, then `llm2slm platform stop`.

The subprocesses get an environment without the test suite's tool settings (PREFECT_HOME, RAY_TMPDIR, HF_HOME and
the rest) and an empty HOME, so what the deployed run writes, and where, is its own doing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import psutil
import pytest

from llm2slm.cli.processes import free_port
from llm2slm.common.artifacts import Artifacts
from llm2slm.common.config import load_config
from llm2slm.common.platform import Layout, read_record
from tests.projects import small_project

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
RUN_TIMEOUT_S = 300  # seconds for the deployment run to reach a final state (~110 s on 2 idle cores)
TOOL_SETTINGS = ("PREFECT_HOME", "PREFECT_API_URL", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "LLM2SLM_HOME",
                 "RAY_ADDRESS", "RAY_TMPDIR", "HF_HOME", "NUMBA_CACHE_DIR", "MPLCONFIGDIR", "XDG_CACHE_HOME")


def _env(repo_root: Path, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in TOOL_SETTINGS}
    env.update({"PYTHONPATH": str(repo_root), "HOME": str(home)})
    return env


def _cli(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "llm2slm"), *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def _get(url: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (127.0.0.1)
        return json.loads(response.read())


def _untracked(folder: Path) -> set[str]:
    """Files git does not track in `folder`, ignored ones included, less bytecode and pytest's cache."""
    out = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--ignored", "--untracked-files=all"],
                         capture_output=True, text=True, check=True).stdout
    return {line[3:] for line in out.splitlines()
            if "__pycache__/" not in line and not line[3:].startswith(".pytest_cache/")}


@pytest.fixture(scope="module")
def platform(repo_root):
    """The started platform: its project, environment, ports and record; stopped at the end whatever happened.
    The folder has a short path, so that Ray keeps its sockets under the project's home (longer ones go to /tmp)."""
    base = Path(tempfile.mkdtemp(prefix="l2s-", dir="/tmp"))
    for folder in ("p", "home"):
        (base / folder).mkdir()
    project = small_project(base / "p", repo_root, any_gate=True)
    env = _env(repo_root, base / "home")
    ports = {name: free_port() for name in ("prefect", "mlflow", "gateway")}
    before = _untracked(repo_root)
    started = time.monotonic()
    done = _cli("platform", "start", "--project", str(project), *(f"--{k}-port={v}" for k, v in ports.items()),
                env=env)
    print(f"platform start: {time.monotonic() - started:.1f} s\n{done.stdout}{done.stderr[-3000:]}")
    layout = Layout.of(load_config(project))
    try:
        assert done.returncode == 0, done.stderr[-3000:]
        yield {"project": project, "env": env, "ports": ports, "record": read_record(layout.record),
               "layout": layout, "home": base / "home", "code": repo_root, "code_untracked": before}
    finally:
        if layout.record.exists():
            _cli("platform", "stop", "--project", str(project), env=env, timeout=120)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def flow_run(platform):
    """The convert deployment's flow run, submitted with `prefect deployment run`, once it is final."""
    api = f"http://127.0.0.1:{platform['ports']['prefect']}/api"
    # the test's own Prefect client keeps its profile beside the platform (not in HOME, which must stay empty)
    env = {**platform["env"], "PREFECT_API_URL": api, "PREFECT_HOME": str(platform["home"].parent / "client")}
    started = time.monotonic()
    done = subprocess.run([str(BIN / "prefect"), "deployment", "run", "convert/convert-weekly"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    run_id = re.search(r"UUID: ([0-9a-f-]{36})", done.stdout).group(1)
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while (run := _get(f"{api}/flow_runs/{run_id}"))["state"]["type"] not in ("COMPLETED", "FAILED", "CRASHED",
                                                                              "CANCELLED"):
        assert time.monotonic() < deadline, f"the flow run is still {run['state']['name']} after {RUN_TIMEOUT_S} s"
        time.sleep(2)
    print(f"deployment run, submission to {run['state']['name']}: {time.monotonic() - started:.1f} s")
    if run["state"]["type"] != "COMPLETED":
        log = platform["layout"].logs / "prefect-worker.log"
        print("worker log, last lines:\n" + "\n".join(log.read_text().splitlines()[-60:]))
    return run


def test_the_deployment_run_completes_on_the_project_it_was_registered_with(platform, flow_run):
    assert flow_run["state"]["type"] == "COMPLETED", flow_run["state"]["message"]
    assert sorted(platform["record"].deployments) == ["convert/convert-weekly", "retrain/retrain-nightly"]
    assert flow_run["parameters"] == {"project_dir": str(platform["project"])}


def _mlflow(platform, route: str, **query: str) -> dict:
    base = f"http://127.0.0.1:{platform['ports']['mlflow']}"
    return _get(f"{base}{route}?{urllib.parse.urlencode(query)}" if query else f"{base}{route}")


@pytest.fixture(scope="module")
def summary(platform, flow_run):
    """The conversion's parent run on the MLflow server and the summary it logged (summary.json)."""
    experiments = _get(f"http://127.0.0.1:{platform['ports']['mlflow']}/api/2.0/mlflow/experiments/search",
                       {"max_results": 100})["experiments"]
    runs = _get(f"http://127.0.0.1:{platform['ports']['mlflow']}/api/2.0/mlflow/runs/search",
                {"experiment_ids": [e["experiment_id"] for e in experiments],
                 "filter": "attributes.run_name = 'convert'"})["runs"]
    assert len(runs) == 1
    parent = runs[0]
    return parent, _mlflow(platform, "/get-artifact", path="summary.json", run_uuid=parent["info"]["run_id"])


def test_the_registry_holds_a_champion_for_each_trained_task_of_the_catalogue(platform, summary):
    _, logged = summary
    catalogue = json.loads(Artifacts(load_config(platform["project"]).paths).path("task_catalogue").read_text())
    assert sorted(o["task_id"] for o in logged["outcomes"]) == sorted(t["task_id"] for t in catalogue["tasks"])
    trained = {o["model_name"]: o["version"] for o in logged["outcomes"] if o["version"]}
    assert len(trained) == 2  # triage and extract; tools (tool calls) stays on the LLM
    names = {m["name"] for m in _mlflow(platform, "/api/2.0/mlflow/registered-models/search",
                                        max_results="100")["registered_models"]}
    assert names == set(trained)
    for name, version in trained.items():
        champion = _mlflow(platform, "/api/2.0/mlflow/registered-models/alias", name=name, alias="champion")
        assert champion["model_version"]["version"] == version
        got = _mlflow(platform, "/api/2.0/mlflow/model-versions/get", name=name, version=version)
        assert got["model_version"]["status"] == "READY"


def test_the_deployed_run_kept_to_the_project_and_the_platform(platform, summary):
    parent, _ = summary
    cfg = load_config(platform["project"])
    tags = {t["key"]: t["value"] for t in parent["data"]["tags"]}
    assert tags["llm2slm.project"] == platform["project"].name
    assert parent["info"]["artifact_uri"].startswith("mlflow-artifacts:/")  # served by the platform's server
    assert any(platform["layout"].root.joinpath("mlflow", "artifacts").rglob("summary.json"))
    art = Artifacts(cfg.paths)
    assert art.path("task_catalogue").is_file() and any(art.path("tasks").rglob("*.jsonl"))
    assert cfg.paths.home == platform["project"] / ".llm2slm"
    assert any((cfg.paths.home / "ray").glob("session_*"))  # Ray's temporary folder, as the CLI sets it
    assert not (cfg.paths.home / "mlflow" / "mlflow.db").exists()  # tracked on the server, not in a local store
    assert list(platform["home"].iterdir()) == []  # nothing in the user's home folder
    assert (platform["layout"].prefect_ui / "v1" / "index.html").is_file()  # the UI's copy, not in site-packages
    assert _untracked(platform["code"]) - platform["code_untracked"] == set()  # nor in the code folder


def test_stop_ends_every_recorded_process_group(platform):
    record = platform["record"]
    groups = {p.pid for p in record.processes}
    done = _cli("platform", "stop", "--project", str(platform["project"]), env=platform["env"], timeout=120)
    assert done.returncode == 0, done.stderr
    assert sorted(line.split(":")[0] for line in done.stdout.splitlines()) == ["stopped"] * len(groups)
    left = [p.info for p in psutil.process_iter(["pid", "name", "status"])
            if p.info["status"] != psutil.STATUS_ZOMBIE and _group(p.info["pid"]) in groups]
    assert left == []
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                   for pid in groups)
    assert not platform["layout"].record.exists()


def _group(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None
