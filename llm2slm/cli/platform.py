"""`llm2slm platform start|stop|status`: the one-machine platform (`make platform`, docs/deploy.md).

`start` runs, on 127.0.0.1 and under `<home>/platform/` (`llm2slm.common.platform`): a Prefect server, the
`llm2slm` process work pool and a worker on it, an MLflow tracking server (SQLite backend, served artifacts) and
the capture gateway; it waits until each answers, records their process ids and URLs in `platform.json`, and
registers the deployments of infra/prefect.yaml. The processes outlive the command: each runs under the
supervisor of `llm2slm.cli.processes` (which stops its command's whole process tree) in its own process group.
`stop` signals exactly the recorded groups: SIGTERM, then SIGKILL after the grace period; it returns once no
process of them (nor one that ran below a recorded process and left its group) runs, and says so.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Annotated, Optional

import typer

from llm2slm.cli.common import FAILED, USAGE, HomeOpt, ProjectOpt, fail, setup
from llm2slm.cli.processes import GRACE_S, POLL_S, descendants, identity, still_running, wait_for_http
from llm2slm.common.config import Config
from llm2slm.common.platform import (POOL, Layout, Ports, Record, Running, Service, code_folder, deploy_command,
                                     pool_command, read_record, resolve_ports, services, write_record)

READY_TIMEOUT_S = 180.0  # seconds each server has to answer (5-20 s on 2 idle cores; more under load)
COMMAND_TIMEOUT_S = 300.0  # seconds for `prefect work-pool create` and `prefect deploy`
STOP_TIMEOUT_S = GRACE_S + 10  # the supervisors' own grace, then a margin
GONE_TIMEOUT_S = 10.0  # seconds for SIGKILLed processes to be gone (the kernel frees them)

platform_app = typer.Typer(help="The one-machine platform: Prefect server and worker, MLflow server, gateway.",
                           no_args_is_help=True)

PortOpt = Annotated[Optional[int], typer.Option(min=1, max=65535, show_default=False)]


@platform_app.command()
def start(project: ProjectOpt = None, home: HomeOpt = None,
          prefect_port: PortOpt = None, mlflow_port: PortOpt = None, gateway_port: PortOpt = None) -> None:
    """Start the platform and register the deployments; ports default to $LLM2SLM_PLATFORM_PREFECT_PORT,
    $LLM2SLM_PLATFORM_MLFLOW_PORT, $LLM2SLM_PLATFORM_GATEWAY_PORT, else 4200, 5000 and gateway.port."""
    import llm2slm

    cfg = setup(project, home)
    layout = Layout.of(cfg)
    _refuse_if_running(layout)
    try:
        ports = resolve_ports({"prefect": prefect_port, "mlflow": mlflow_port, "gateway": gateway_port},
                              cfg.gateway.port)
        code_dir = code_folder(cfg.paths.project, llm2slm.__file__)
    except ValueError as exc:
        fail(str(exc), USAGE)
    _refuse_busy_ports(ports)
    record = Record()
    try:
        _start_all(cfg, layout, ports, code_dir, record)
    except (RuntimeError, OSError) as exc:
        typer.echo(f"error: {exc}; stopping what started (logs in {layout.logs})", err=True)
        _stop_recorded(layout, record)
        raise typer.Exit(FAILED) from None
    for proc in record.processes:
        typer.echo(f"{proc.name + ':':16}{proc.url}")
    typer.echo(f"{'deployments:':16}{', '.join(record.deployments)} (work pool {POOL})")
    typer.echo(f"{'record:':16}{layout.record}\nstop it with `llm2slm platform stop` (or `make platform-stop`)")


@platform_app.command()
def stop(project: ProjectOpt = None, home: HomeOpt = None) -> None:
    """Stop the recorded processes (SIGTERM to each process group, SIGKILL after the grace period)."""
    layout = Layout.of(setup(project, home))
    record = _read(layout)
    if record is None:
        typer.echo(f"nothing recorded in {layout.record}: no platform to stop")
        return
    _stop_recorded(layout, record)


@platform_app.command()
def status(project: ProjectOpt = None, home: HomeOpt = None) -> None:
    """Say which recorded processes run, with their URLs; exit 1 when none is recorded or one has stopped."""
    layout = Layout.of(setup(project, home))
    record = _read(layout)
    if record is None:
        typer.echo(f"nothing recorded in {layout.record}: the platform is not running")
        raise typer.Exit(FAILED)
    for proc in record.processes:
        typer.echo(f"{proc.name + ':':16}{'running' if alive(proc.pid) else 'STOPPED':8} pid {proc.pid:<8} {proc.url}")
    if not all(alive(p.pid) for p in record.processes):
        raise typer.Exit(FAILED)


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, which has exited but is not yet collected, counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _read(layout: Layout) -> Record | None:
    try:
        return read_record(layout.record)
    except ValueError as exc:
        fail(str(exc), USAGE)


def _refuse_if_running(layout: Layout) -> None:
    record = _read(layout)
    if record is None:
        return
    running = [f"{p.name} (pid {p.pid})" for p in record.processes if alive(p.pid)]
    if running:
        fail(f"the platform of this home is already running: {', '.join(running)}; see {layout.record}, stop it "
             "with `llm2slm platform stop`", USAGE)
    layout.record.unlink()  # a record of processes that are all gone (the machine restarted)


def _refuse_busy_ports(ports: Ports) -> None:
    for name, port in (("prefect", ports.prefect), ("mlflow", ports.mlflow), ("gateway", ports.gateway)):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                fail(f"port {port} (for {name}) is in use on 127.0.0.1: choose another with --{name}-port", USAGE)


def _start_all(cfg: Config, layout: Layout, ports: Ports, code_dir: Path, record: Record) -> None:
    """Start the servers, wait for them, then the pool and its worker, then register the deployments."""
    for folder in (layout.prefect_home, layout.mlflow_artifacts, layout.logs):
        folder.mkdir(parents=True, exist_ok=True)
    *servers, worker = services(cfg, layout, ports, code_dir)
    procs = [_launch(service, layout, record, code_dir) for service in servers]
    for service, proc in zip(servers, procs, strict=True):
        try:
            wait_for_http(service.health or service.url, READY_TIMEOUT_S, proc)
        except RuntimeError as exc:
            raise RuntimeError(f"{service.name}: {exc} (log {layout.logs / service.name}.log)") from None
    env = {**os.environ, **worker.env}
    _run_step(pool_command(), env, code_dir, layout.logs / "work-pool.log")
    proc = _launch(worker, layout, record, code_dir)
    _wait_for_worker(ports, proc)
    _run_step(deploy_command(code_dir), env, code_dir, layout.logs / "deploy.log")
    record.deployments = _deployments(ports)
    write_record(layout.record, record)


def _launch(service: Service, layout: Layout, record: Record, code_dir: Path) -> subprocess.Popen:
    """Start `service` under the supervisor in a new session (its own process group), logging to a file, and
    record it at once (a failure later still leaves it on the record `stop` reads)."""
    log = layout.logs / f"{service.name}.log"
    argv = [sys.executable, "-m", "llm2slm.cli.processes", "--grace-s", str(GRACE_S), "--", *service.cmd]
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, env={**os.environ, **service.env}, cwd=code_dir, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    record.processes.append(Running(service.name, proc.pid, service.url, str(log)))
    write_record(layout.record, record)
    return proc


def _run_step(cmd: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
    """Run a one-off command to its end; raise RuntimeError with the end of its output when it fails."""
    done = subprocess.run(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=COMMAND_TIMEOUT_S, check=False)
    log.write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-15:]
        raise RuntimeError(f"`{' '.join(cmd[1:4])}` failed with status {done.returncode}: " + "\n".join(tail))


def _api(url: str, body: dict | None = None) -> object:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (a 127.0.0.1 URL we built)
        return json.loads(response.read())


def _wait_for_worker(ports: Ports, proc: subprocess.Popen) -> None:
    """Wait until the pool is READY (a worker of it polls the server)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the Prefect worker exited with status {proc.returncode} before polling")
        try:
            if _api(f"{ports.prefect_api}/work_pools/{POOL}").get("status") == "READY":  # type: ignore[union-attr]
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(1)  # seconds
    raise RuntimeError(f"no worker of pool {POOL} polled the Prefect server within {READY_TIMEOUT_S:.0f} s")


def _deployments(ports: Ports) -> list[str]:
    """`flow/deployment` of every deployment on the server."""
    flows = {f["id"]: f["name"] for f in _api(f"{ports.prefect_api}/flows/filter", {})}  # type: ignore[union-attr]
    found = _api(f"{ports.prefect_api}/deployments/filter", {})
    return sorted(f"{flows.get(d['flow_id'], '?')}/{d['name']}" for d in found)  # type: ignore[union-attr]


def _stop_recorded(layout: Layout, record: Record) -> None:
    """SIGTERM every recorded process group, wait for the leaders, SIGKILL what is left, then wait until no process
    of the groups runs, nor any process found below a leader before the signals (a flow run's own session); remove
    the record. Exit 1, keeping the record, when some process outlives that wait."""
    groups = {p.pid for p in record.processes}
    below = {key for p in record.processes for key in map(identity, [p.pid, *descendants(p.pid)]) if key}
    for proc in record.processes:
        _signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while any(alive(p.pid) for p in record.processes) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    late = {p.pid for p in record.processes if alive(p.pid)}
    for pgid in groups:
        _signal_group(pgid, signal.SIGKILL)  # also members left behind by a leader that was killed
    for pid, _ in still_running(set(), below):
        _kill(pid)  # descendants that left the group and outlived their supervisor
    left = _wait_gone(groups, below, GONE_TIMEOUT_S)
    for proc in record.processes:
        typer.echo(f"{'killed after the grace period' if proc.pid in late else 'stopped'}: {proc.name} "
                   f"(pid {proc.pid})")
    if left:
        fail(f"{len(left)} process(es) still run after SIGKILL: pids {sorted(pid for pid, _ in left)}; "
             f"{layout.record} is kept", FAILED)
    layout.record.unlink(missing_ok=True)


def _wait_gone(groups: set[int], known: set[tuple[int, str]], timeout_s: float) -> set[tuple[int, str]]:
    """Wait up to `timeout_s` seconds until none of `groups`' processes nor of `known` runs; what still runs."""
    deadline = time.monotonic() + timeout_s
    while (left := still_running(groups, known)) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    return left


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass  # no process of the group is left


def add_platform_commands(app: typer.Typer) -> None:
    app.add_typer(platform_app, name="platform")
