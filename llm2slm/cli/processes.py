"""Child processes that end with the command that started them, however it ends.

`start(cmd)` runs `cmd` under a small supervisor (this module: `python -m llm2slm.cli.processes -- cmd`):

- the supervisor leads its own session and process group, so a Ctrl-C in the terminal reaches only the command,
  which stops its children itself, in order;
- the kernel sends it SIGTERM when the thread that started it exits (`prctl(PR_SET_PDEATHSIG)`), which covers
  the command being SIGKILLed; start children on the main thread;
- on SIGTERM, SIGINT or SIGHUP, or when `cmd` exits, it signals its whole process group (the servers' own
  workers: `mlflow server` runs uvicorn, which runs worker processes), waits for every descendant (it is their
  subreaper: orphans are re-parented to it) and SIGKILLs what is left after the grace period.

`stop(proc)` ends a supervised child and waits for it. `prefect_api()` runs Prefect's API server this way for a
flow run (Prefect's own temporary server would outlive a SIGKILLed command). Standard library only.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

PR_SET_PDEATHSIG = 1  # linux/prctl.h
PR_SET_CHILD_SUBREAPER = 36
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
GRACE_S = 20.0  # seconds a supervised command has to stop after SIGTERM before its group is SIGKILLed
POLL_S = 0.2  # seconds between checks for exited children (and for a stop signal)
INTERRUPTED_BY_PARENT = 143  # 128 + SIGTERM: a child whose parent died before it was set up exits with this


def _prctl() -> Callable[..., int] | None:
    """libc's prctl, loaded in the parent (a forked child must not dlopen); None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None]:
    """A `preexec_fn`: the child gets `sig` when the thread that created it exits; it exits at once when that
    parent is already gone (the race between fork and prctl)."""
    prctl, parent = _prctl(), os.getpid()

    def preexec() -> None:
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:
            os._exit(INTERRUPTED_BY_PARENT)

    return preexec


def start(cmd: list[str], env: dict[str, str] | None = None, grace_s: float = GRACE_S,
          **popen: object) -> subprocess.Popen:
    """Start `cmd` supervised (see the module docstring); stdout and stderr are inherited unless given.
    `grace_s`: seconds its processes have to stop after SIGTERM before they are SIGKILLed."""
    argv = [sys.executable, "-m", "llm2slm.cli.processes", "--grace-s", str(grace_s), "--", *cmd]
    return subprocess.Popen(argv, env=env, start_new_session=True, preexec_fn=die_with_parent(), **popen)


def stop(proc: subprocess.Popen, timeout_s: float = GRACE_S + 10) -> int | None:
    """SIGTERM a supervised child and wait for it (it waits for its own group); SIGKILL its group after
    `timeout_s` seconds. Returns its exit status."""
    stop_all([proc], timeout_s)
    return proc.returncode


def stop_all(procs: list[subprocess.Popen], timeout_s: float = GRACE_S + 10) -> None:
    """`stop` several supervised children at once: SIGTERM to all, then wait for each (one deadline)."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # the supervisor signals its group once
    deadline = time.monotonic() + timeout_s
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def children(pid: int) -> list[int]:
    """The pids whose parent is `pid` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # the process ended while we looked
        # fields after the command (which may hold spaces and parentheses): state, ppid, ...
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, children first."""
    found, frontier = [], [pid]
    while frontier:
        below = [c for p in frontier for c in children(p)]
        found += below
        frontier = below
    return found


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command (state, ppid, pgrp, ...; start time at index 19, in clock
    ticks since boot); None when the process is gone or a zombie (it has exited, only its status is left)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else fields


def identity(pid: int) -> tuple[int, str] | None:
    """`pid` with its start time (a pid the kernel reuses gets another one); None when it is not running."""
    fields = _stat(pid)
    return None if fields is None else (pid, fields[19])


def still_running(groups: set[int], known: set[tuple[int, str]]) -> set[tuple[int, str]]:
    """The running processes of the process groups `groups`, and those of `known` (identities) that still run."""
    found = {key for key in map(identity, (pid for pid, _ in known)) if key in known}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) and int(fields[2]) in groups:
            found.add((int(entry.name), fields[19]))
    return found


@contextmanager
def interrupts_raise() -> Iterator[None]:
    """Inside, SIGTERM and SIGHUP raise KeyboardInterrupt like Ctrl-C, so `finally` blocks stop the children and
    the command exits 130. The previous handlers come back at the end. Off the main thread (where Python runs
    signal handlers) it changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for sig in previous:
        signal.signal(sig, interrupt)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, timeout_s: float, proc: subprocess.Popen | None = None) -> None:
    """Return once `url` answers 200; raise RuntimeError when `proc` exits first or after `timeout_s` seconds."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server for {url} exited with status {proc.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (a 127.0.0.1 URL we built)
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{url} did not answer within {timeout_s:.0f} s")


def prefect_api_command(port: int) -> list[str]:
    """The command Prefect runs for its temporary API server (prefect.server.api.server.SubprocessASGIServer)."""
    spec = importlib.util.find_spec("prefect")  # finds the package without importing it (slow)
    if spec is None or spec.origin is None:
        raise RuntimeError("prefect is not installed")
    app_dir = str(Path(spec.origin).parent.parent)
    return [sys.executable, "-m", "uvicorn", "--app-dir", app_dir, "--factory",
            "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "error", "--lifespan", "on"]


@dataclass
class PrefectApi:
    """Prefect's API server for one command: `url` for PREFECT_API_URL, `ready()` waits until it answers."""

    url: str
    proc: subprocess.Popen | None = None  # None: the user's own server (PREFECT_API_URL was set)

    def ready(self) -> None:
        """Wait for /api/health (a cold start, with database migrations, takes 10-20 s on 2 cores)."""
        if self.proc is not None:
            timeout_s = float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS") or 120)
            wait_for_http(f"{self.url}/health", timeout_s, self.proc)


def start_prefect_api(port: int | None = None) -> PrefectApi:
    """Start Prefect's API server, supervised, on 127.0.0.1 and a free port, with PREFECT_HOME from the
    environment; returns at once (call `ready()` before the first flow run)."""
    port = port or free_port()
    env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
    env.pop("PREFECT_API_URL", None)
    proc = start(prefect_api_command(port), env=env, stdout=subprocess.DEVNULL)
    return PrefectApi(url=f"http://127.0.0.1:{port}/api", proc=proc)


def _drain_prefect(timeout_s: float = 10.0) -> None:
    """Send Prefect's buffered logs and events while the server still answers (as prefect_test_harness does)."""
    if "prefect" not in sys.modules:
        return
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        try:
            worker.drain_all(timeout=timeout_s)
        except Exception:  # noqa: BLE001 (a failed flush must not hide the run's own result)
            pass


@contextmanager
def prefect_api(configured: str | None = None) -> Iterator[PrefectApi]:
    """Inside, PREFECT_API_URL names a Prefect API server that this process owns and that ends with it, even
    when it is SIGKILLed (Prefect's own temporary server would be left running). With a `configured` server
    (the configuration's PREFECT_API_URL), that one is used and nothing starts. Enter before importing prefect:
    it reads the URL then."""
    if configured:
        yield PrefectApi(url=configured)
        return
    api = start_prefect_api()
    os.environ["PREFECT_API_URL"] = api.url
    try:
        with ExitStack() as stack:
            if "prefect" in sys.modules:  # imported already: its settings were read, override them
                from prefect.settings import PREFECT_API_URL, temporary_settings

                stack.enter_context(temporary_settings(updates={PREFECT_API_URL: api.url}))
            yield api
    finally:
        _drain_prefect()
        os.environ.pop("PREFECT_API_URL", None)
        stop(api.proc)


def _reap(head: int) -> int | None:
    """Collect every child that has exited; `head`'s exit status if it was among them (128 + N for signal N)."""
    status = None
    while True:
        try:
            pid, wait_status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return status  # no child left
        if pid == 0:
            return status  # children left, none exited
        if pid == head:
            code = os.waitstatus_to_exitcode(wait_status)
            status = code if code >= 0 else 128 - code


def supervise(cmd: list[str], grace_s: float = GRACE_S) -> int:
    """Run `cmd`; on a stop signal or when it exits, SIGTERM this process group, wait up to `grace_s` seconds for
    every descendant and SIGKILL those left. Returns `cmd`'s exit status (128 + N when signal N ended it)."""
    prctl = _prctl()
    if prctl is not None:
        prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # orphaned descendants become our children: we can wait
    stopping: list[int] = []
    for sig in STOP_SIGNALS:
        signal.signal(sig, lambda signum, frame: stopping.append(signum))
    head = subprocess.Popen(cmd).pid
    status: int | None = None
    while status is None and not stopping:
        status = _reap(head)
        time.sleep(POLL_S)
    _signal_group(os.getpgrp(), signal.SIGTERM)  # our own copy only lands in `stopping`
    me, deadline = os.getpid(), time.monotonic() + grace_s
    while children(me) and time.monotonic() < deadline:
        status = _first(status, _reap(head))
        time.sleep(POLL_S)
    for _ in range(3):  # whatever ignored SIGTERM, including a process that left the group
        left = descendants(me)
        if not left:
            break
        for pid in left:
            _kill(pid)
        time.sleep(POLL_S)
        status = _first(status, _reap(head))
    status = _first(status, _reap(head))
    return status if status is not None else 128 + int(stopping[0] if stopping else signal.SIGTERM)


def _first(status: int | None, found: int | None) -> int | None:
    return status if status is not None else found


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _main(argv: list[str]) -> int:
    """`python -m llm2slm.cli.processes [--grace-s SECONDS] -- COMMAND [ARG...]`"""
    grace_s = GRACE_S
    if argv[:1] == ["--grace-s"] and len(argv) > 1:
        grace_s, argv = float(argv[1]), argv[2:]
    if argv[:1] != ["--"] or len(argv) < 2:
        print("usage: python -m llm2slm.cli.processes [--grace-s SECONDS] -- COMMAND [ARG...]", file=sys.stderr)
        return 2
    return supervise(argv[1:], grace_s)


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
