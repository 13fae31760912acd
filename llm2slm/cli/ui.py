"""`llm2slm ui`: the MLflow and Prefect UIs for this project's stores, bound to 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import typer

from llm2slm.common.config import Config


def ui_commands(cfg: Config, mlflow_port: int, prefect_port: int) -> list[list[str]]:
    bin_dir = os.path.dirname(sys.executable)
    artifacts = cfg.artifact_root() or ""
    mlflow_cmd = [os.path.join(bin_dir, "mlflow"), "server", "--host", "127.0.0.1", "--port", str(mlflow_port),
                  "--backend-store-uri", cfg.mlflow_tracking_uri]
    if artifacts:
        mlflow_cmd += ["--default-artifact-root", artifacts]
    prefect_cmd = [os.path.join(bin_dir, "prefect"), "server", "start", "--host", "127.0.0.1", "--port",
                   str(prefect_port)]
    return [mlflow_cmd, prefect_cmd]


def serve_uis(cfg: Config, mlflow_port: int, prefect_port: int) -> None:
    procs = [subprocess.Popen(cmd) for cmd in ui_commands(cfg, mlflow_port, prefect_port)]
    typer.echo(f"MLflow UI:  http://127.0.0.1:{mlflow_port}\nPrefect UI: http://127.0.0.1:{prefect_port}\n"
               "(both take a few seconds to answer; Ctrl-C stops them)")
    try:
        while all(p.poll() is None for p in procs):
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
