"""The fixed cost of the platform path, against the in-process default.

    .venv/bin/python benchmarks/platform_path.py

Deployment runs (this file): on the platform test's small project (tests/projects.py: 340 synthetic calls of three
tasks, params trimmed to train in seconds), `llm2slm platform start` timed; the `convert/convert-weekly` deployment
submitted with `prefect deployment run` and timed to its Completed state (with Prefect's own record of when the
worker started the run and when it ended); `llm2slm platform stop` timed; then the same conversion in process,
`llm2slm convert`, on a second copy of the project. The difference between the two conversions is the fixed cost a
deployment run adds: the worker's polling, a new process that imports the flow, the HTTP round trips to the servers.

Ray across nodes: when `benchmarks/platform_ray.py` exists, its `ray_rows()` adds its rows (the columns of its `HEADER`)
as a second table.

Writes docs/benchmarks.md (section "platform"). The file is not named platform.py: in benchmarks/ that name would
hide the standard library's `platform` module from every other script there.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import importlib.util  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform as host  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from datetime import datetime  # noqa: E402

import psutil  # noqa: E402

from benchmarks.table import load_note, write_section  # noqa: E402
from llm2slm.cli.processes import free_port  # noqa: E402

BIN = Path(sys.executable).parent
RUN_TIMEOUT_S = 900  # seconds a conversion may take before the benchmark gives up
FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")
# what the CLI and the flow set themselves: taken out of the caller's environment, as a fresh shell would have it
TOOL_SETTINGS = ("PREFECT_HOME", "PREFECT_API_URL", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "LLM2SLM_HOME",
                 "RAY_ADDRESS", "RAY_TMPDIR", "HF_HOME", "NUMBA_CACHE_DIR", "MPLCONFIGDIR", "XDG_CACHE_HOME")
Row = tuple[str, str, str]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in TOOL_SETTINGS}
    return {**env, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    """(wall seconds, output) of a command that must succeed."""
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"`{' '.join(Path(c).name for c in cmd[:3])}` failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return wall, done.stdout


def _project(base: Path) -> Path:
    """A copy of the platform test's project (a short path: Ray keeps its sockets under the project's home)."""
    from tests.projects import small_project

    (base / "p").mkdir(parents=True)
    return small_project(base / "p", REPO, any_gate=True)


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (127.0.0.1)
        return json.loads(response.read())


def _deployment_run(api: str, env: dict[str, str], client_home: Path) -> tuple[float, dict]:
    """Submit convert/convert-weekly and wait for a final state: (seconds from submission, the flow run)."""
    started = time.perf_counter()
    _, out = _timed([str(BIN / "prefect"), "deployment", "run", "convert/convert-weekly"],
                    {**env, "PREFECT_API_URL": api, "PREFECT_HOME": str(client_home)})
    run_id = re.search(r"UUID: ([0-9a-f-]{36})", out).group(1)
    while (run := _get(f"{api}/flow_runs/{run_id}"))["state"]["type"] not in FINAL:
        if time.perf_counter() - started > RUN_TIMEOUT_S:
            sys.exit(f"the deployment run is still {run['state']['name']} after {RUN_TIMEOUT_S} s")
        time.sleep(0.5)
    return time.perf_counter() - started, run


def _seconds(run: dict, since: str, until: str) -> float:
    return (datetime.fromisoformat(run[until]) - datetime.fromisoformat(run[since])).total_seconds()


def deployment_rows() -> list[Row]:
    """Platform start, the deployment run, platform stop, and the same conversion in process."""
    env = _env()
    base = Path(tempfile.mkdtemp(prefix="l2s-", dir="/tmp"))
    try:
        project = _project(base / "deployed")
        ports = [f"--{name}-port={free_port()}" for name in ("prefect", "mlflow", "gateway")]
        start_s, out = _timed([str(BIN / "llm2slm"), "platform", "start", "--project", str(project), *ports], env)
        api = re.search(r"prefect-server:\s+(\S+)", out).group(1) + "/api"
        try:
            run_s, run = _deployment_run(api, env, base / "client")
        finally:
            stop_s, _ = _timed([str(BIN / "llm2slm"), "platform", "stop", "--project", str(project)], env)
        if run["state"]["type"] != "COMPLETED":
            sys.exit(f"the deployment run ended {run['state']['name']}: {run['state']['message']}")
        local = _project(base / "local")
        local_s, _ = _timed([str(BIN / "llm2slm"), "convert", "--project", str(local)], env)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    pickup, running = _seconds(run, "created", "start_time"), _seconds(run, "start_time", "end_time")
    return [
        ("`llm2slm platform start` (Prefect server, pool and worker, MLflow server, gateway; 2 deployments)",
         f"{start_s:.0f} s", "once per platform"),
        ("convert, in process (`llm2slm convert`, its own Prefect API server)", f"{local_s:.0f} s", "the baseline"),
        ("convert, deployment run (`prefect deployment run`, submission to Completed)", f"{run_s:.0f} s",
         f"worker picked it up after {pickup:.0f} s; the flow ran {running:.0f} s (Prefect's record)"),
        ("fixed cost of a deployment run (difference)", f"{run_s - local_s:+.0f} s",
         f"{(run_s - local_s) / local_s:+.0%} of the in-process run"),
        ("`llm2slm platform stop` (every recorded process group gone)", f"{stop_s:.0f} s", ""),
    ]


def ray_section() -> str:
    """The Ray rows' table, when benchmarks/platform_ray.py exists; else nothing."""
    if importlib.util.find_spec("benchmarks.platform_ray") is None:
        return ""
    from benchmarks.platform_ray import HEADER, ray_rows

    return ("\n\nRay: the same small fine-tune (2 workers) on a two-node `ray start` cluster against the in-process "
            "default (columns: `benchmarks/platform_ray.py`).\n\n" + _table(ray_rows(), HEADER))


def _table(rows: list[Row], header: list[str] | None = None) -> str:
    header = header or ["run", "wall time", "note"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
             *("| " + " | ".join(row) + " |" for row in rows)]
    return "\n".join(lines)


def main() -> None:
    load_before = os.getloadavg()[0]
    deployment = _table(deployment_rows())
    ray = ray_section()
    load = os.getloadavg()[0]
    machine = (f"{psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, {host.machine()}, "
               "no GPU")
    body = (f"`benchmarks/platform_path.py` on {machine}; load average (1 min) {load_before:.2f} before, {load:.2f} "
            f"after ({load_note(max(load_before, load))}). Deployment runs: the platform test's small project "
            "(340 synthetic calls, three tasks, two trained with params trimmed to train in seconds), once through "
            "the one-machine platform's convert deployment and once with the CLI in process; wall-clock times.\n\n"
            f"{deployment}\n\nA negative difference means the deployment run cost less: on a fresh project `llm2slm "
            "convert` starts its own Prefect API server (database migrations included) and creates its SQLite MLflow "
            "store, which the platform pays once, at start; the deployment run pays the worker's polling (every 10 "
            f"s, Prefect's default) and a new flow-run process.{ray}\n")
    write_section(REPO / "docs" / "benchmarks.md", "platform", body)
    print(body)


if __name__ == "__main__":
    main()
