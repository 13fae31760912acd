"""A command's child processes end with it: real processes, real servers on 127.0.0.1, real signals.

Process trees are read with `ps --ppid` here, not with the code under test. The two server tests take 10-15 s
each on 2 cores (the servers' start-up).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from llm2slm.cli.common import INTERRUPTED
from llm2slm.cli.processes import free_port, identity, interrupts_raise, start, still_running, stop
from llm2slm.common.config import load_config

CLI = str(Path(sys.executable).with_name("llm2slm"))
SERVER_START_S = 120  # seconds: a cold MLflow or Prefect server answers in 5-20 s on 2 busy cores


def ps_descendants(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    kids = [int(p) for p in out.split()]
    return kids + [d for k in kids for d in ps_descendants(k)]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def left_after(pids: list[int], timeout_s: float) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.2)
    return [p for p in pids if alive(p)]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def wait_until(check, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def read_line(proc: subprocess.Popen, timeout_s: float) -> str:
    ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
    assert ready, f"no output within {timeout_s} s"
    return proc.stdout.readline().strip()


@pytest.fixture
def reaper():
    """SIGKILLs whatever a failed test left behind (pids added to the list)."""
    pids: list[int] = []
    yield pids
    for pid in pids + [d for p in pids for d in ps_descendants(p)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _python(code: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE, text=True,
                            env=env)


def test_a_supervised_tree_ends_when_the_parent_is_sigkilled(reaper):
    parent = _python("""
        import time
        from llm2slm.cli.processes import start
        start(["bash", "-c", "sleep 300 & sleep 301 & wait"], grace_s=2)
        print("started", flush=True)
        time.sleep(300)
    """)
    reaper.append(parent.pid)
    assert read_line(parent, 30) == "started"
    wait_until(lambda: len(ps_descendants(parent.pid)) >= 4, 20, "supervisor, bash and two sleeps")
    tree = ps_descendants(parent.pid)
    reaper.extend(tree)
    parent.kill()
    parent.wait()
    assert left_after(tree, 10) == [], [cmdline(p) for p in tree]


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace_period(reaper):
    proc = start(["bash", "-c", "trap '' TERM; sleep 300 & sleep 301 & wait"], grace_s=1)
    reaper.append(proc.pid)
    wait_until(lambda: len(ps_descendants(proc.pid)) >= 3, 20, "bash and two sleeps")
    tree = ps_descendants(proc.pid)
    started = time.monotonic()
    status = stop(proc, timeout_s=20)
    assert 1 <= time.monotonic() - started < 10
    assert status == 128 + signal.SIGKILL  # bash ignored SIGTERM: the supervisor SIGKILLed it
    assert left_after(tree, 2) == []


def test_still_running_sees_a_group_and_known_processes_until_they_are_gone():
    """What `platform stop` waits on: the members of a process group, and processes it knew by pid and start
    time (a pid the kernel hands to another process later is not the same process)."""
    group = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time; subprocess.Popen([sys.executable,"
                              " '-c', 'import time; time.sleep(60)']); time.sleep(60)"], start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while len(ps_descendants(group.pid)) < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        (child,) = ps_descendants(group.pid)
        members = still_running({group.pid}, set())
        assert {pid for pid, _ in members} == {group.pid, child}
        assert identity(child) in members and identity(child) == identity(child)
        assert still_running(set(), {(child, "0")}) == set()  # another start time: another process
    finally:
        os.killpg(group.pid, signal.SIGKILL)
        group.wait()
    deadline = time.monotonic() + 10
    while still_running({group.pid}, members) and time.monotonic() < deadline:
        time.sleep(0.1)  # the orphaned child is reaped by init
    assert still_running({group.pid}, members) == set() and identity(group.pid) is None


def test_sigterm_and_sighup_interrupt_like_ctrl_c_inside_interrupts_raise():
    before = signal.getsignal(signal.SIGTERM)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        with pytest.raises(KeyboardInterrupt), interrupts_raise():
            os.kill(os.getpid(), sig)
            time.sleep(5)
    assert signal.getsignal(signal.SIGTERM) is before


def _project_env(project: Path) -> dict[str, str]:
    env = dict(os.environ)
    for key in ("PREFECT_HOME", "PREFECT_UI_STATIC_DIRECTORY", "MLFLOW_TRACKING_URI",
                "PREFECT_API_URL"):  # the project's own stores
        env.pop(key, None)
    return env


def test_ui_stops_both_servers_and_their_workers_on_sigterm(tmp_path, reaper):
    (tmp_path / "params.yaml").write_text("{}\n")
    mlflow_port, prefect_port = free_port(), free_port()
    ui = subprocess.Popen([CLI, "ui", "--project", str(tmp_path), "--mlflow-port", str(mlflow_port),
                           "--prefect-port", str(prefect_port)], env=_project_env(tmp_path),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    reaper.append(ui.pid)
    for url in (f"http://127.0.0.1:{mlflow_port}/health", f"http://127.0.0.1:{prefect_port}/api/health"):
        wait_until(lambda url=url: answers(url) or ui.poll() is not None, SERVER_START_S, url)
    assert ui.poll() is None, ui.stdout.read()
    tree = ps_descendants(ui.pid)
    reaper.extend(tree)
    commands = " | ".join(cmdline(p) for p in tree)
    assert "mlflow server" in commands and "prefect server start" in commands and "uvicorn" in commands
    # the Prefect server's copy of its UI is in the project's Prefect home, not in the installed package
    assert (load_config(tmp_path).paths.prefect_ui / "v1" / "index.html").is_file()

    ui.send_signal(signal.SIGTERM)
    output, _ = ui.communicate(timeout=60)
    assert ui.returncode == INTERRUPTED, output
    assert left_after(tree, 3) == [], [cmdline(p) for p in tree if alive(p)]
    assert not answers(f"http://127.0.0.1:{mlflow_port}/health")
    assert not answers(f"http://127.0.0.1:{prefect_port}/api/health")


def test_the_managed_prefect_api_serves_a_flow_and_ends_with_a_sigkilled_parent(tmp_path, reaper):
    env = _project_env(tmp_path)
    env["PREFECT_HOME"] = str(tmp_path / "prefect")
    (tmp_path / "run_flow.py").write_text(textwrap.dedent("""
        import time
        from llm2slm.cli.processes import prefect_api

        with prefect_api() as api:
            from prefect import flow

            @flow
            def one() -> int:
                return 1

            api.ready()
            assert one() == 1
            print(api.url, flush=True)
            time.sleep(600)
    """))
    parent = subprocess.Popen([sys.executable, str(tmp_path / "run_flow.py")], stdout=subprocess.PIPE, text=True,
                              env=env, cwd=tmp_path)
    reaper.append(parent.pid)
    url = read_line(parent, SERVER_START_S + 30)
    assert url.startswith("http://127.0.0.1:") and answers(f"{url}/health")
    port = url.rsplit(":", 1)[1].split("/")[0]
    tree = ps_descendants(parent.pid)
    reaper.extend(tree)
    commands = [cmdline(p) for p in tree]
    assert any("uvicorn" in c and f"--port {port}" in c for c in commands), commands
    # Prefect started no temporary server of its own: every descendant is our supervisor or our server
    assert all("llm2slm.cli.processes" in c or f"--port {port}" in c for c in commands), commands

    parent.kill()
    parent.wait()
    assert left_after(tree, 15) == [], [cmdline(p) for p in tree if alive(p)]
    assert not answers(f"{url}/health")
