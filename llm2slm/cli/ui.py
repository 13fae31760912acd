"""`llm2slm ui`: the MLflow and Prefect UIs for this project's stores, bound to 127.0.0.1.

Both servers run as supervised children (`llm2slm.cli.processes`): Ctrl-C, SIGTERM or SIGHUP stops both and
waits for them and their workers; if the command is SIGKILLed, the kernel stops them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import typer

from llm2slm.cli.common import FAILED, INTERRUPTED, fail
from llm2slm.cli.processes import interrupts_raise, start, stop_all, wait_for_http
from llm2slm.common.config import Config

MLFLOW_WORKERS = 1  # uvicorn worker processes: one person browsing needs one (mlflow's default, 4, costs ~1 GB)
READY_TIMEOUT_S = 120.0  # each server answers in 5-20 s on 2 cores


def ui_commands(cfg: Config, mlflow_port: int, prefect_port: int) -> list[list[str]]:
    """The `mlflow server` and `prefect server start` commands, on 127.0.0.1 and this project's stores."""
    bin_dir = os.path.dirname(sys.executable)
    artifacts = cfg.artifact_root() or ""
    mlflow_cmd = [os.path.join(bin_dir, "mlflow"), "server", "--host", "127.0.0.1", "--port", str(mlflow_port),
                  "--workers", str(MLFLOW_WORKERS), "--backend-store-uri", cfg.mlflow_tracking_uri]
    if artifacts:
        mlflow_cmd += ["--default-artifact-root", artifacts]
    prefect_cmd = [os.path.join(bin_dir, "prefect"), "server", "start", "--host", "127.0.0.1", "--port",
                   str(prefect_port)]
    return [mlflow_cmd, prefect_cmd]


def health_urls(mlflow_port: int, prefect_port: int) -> list[str]:
    return [f"http://127.0.0.1:{mlflow_port}/health", f"http://127.0.0.1:{prefect_port}/api/health"]


def serve_uis(cfg: Config, mlflow_port: int, prefect_port: int) -> None:
    """Run both servers until one exits (exit 1) or the command is interrupted (exit 130)."""
    procs: list[subprocess.Popen] = []
    with interrupts_raise():
        try:
            for cmd in ui_commands(cfg, mlflow_port, prefect_port):
                procs.append(start(cmd))
            typer.echo(f"MLflow UI:  http://127.0.0.1:{mlflow_port}\nPrefect UI: http://127.0.0.1:{prefect_port}\n"
                       "(both take a few seconds to answer; Ctrl-C stops them)")
            problem = _wait_until_one_exits(procs, health_urls(mlflow_port, prefect_port))
        except KeyboardInterrupt:
            typer.echo("stopping the MLflow and Prefect servers", err=True)
            raise typer.Exit(INTERRUPTED) from None
        finally:
            stop_all(procs)
    fail(f"{problem}; the servers are stopped", FAILED)


def _wait_until_one_exits(procs: list[subprocess.Popen], urls: list[str]) -> str:
    """Say when both servers answer, then wait; returns what went wrong (a server exited or never answered)."""
    try:
        for proc, url in zip(procs, urls, strict=True):
            wait_for_http(url, READY_TIMEOUT_S, proc)
    except RuntimeError as exc:
        return str(exc)
    typer.echo("both UIs answer")
    while all(p.poll() is None for p in procs):
        time.sleep(1)  # seconds
    exited = next(p for p in procs if p.poll() is not None)
    return f"{os.path.basename(exited.args[4])} exited with status {exited.returncode}"
