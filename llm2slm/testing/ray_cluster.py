"""A Ray cluster of several nodes on one machine, made of real `ray start` processes, for the multi-node tests and
the platform benchmark:

    with LocalRayCluster(code_dir=repo) as cluster:   # a head node
        cluster.add_node()                              # and a worker node, both `ray start --block`
        ray.init(address=cluster.address)
        cluster.wait_for_nodes()                        # each node's Ray id, once the GCS counts it alive
        cluster.nodes[1].pids()                         # every process of that node (its session)

Each node is one `ray start --block` process leading its own session, with its own `--temp-dir` (short, under
/tmp: Ray's socket paths must stay under 107 bytes), its own ports and the project's quiet, offline settings
(`llm2slm.common.env`). Ray's workers move to process groups of their own but stay in the session of the node that
started them, so a node is every process of its session (`llm2slm.testing.faults.NodeFailure` kills one that
way): `stop` signals exactly those, and `leftover_pids` finds any that outlived them. The head's GCS declares a node dead after ~3 s without heartbeats
(instead of Ray's ~30 s), so a test that kills a node sees the run react quickly.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from llm2slm.common.env import quiet_offline_defaults
from llm2slm.testing.fake_llm import free_port

CPUS_PER_NODE = 2  # logical CPUs each node offers (one Ray Train worker takes 1)
OBJECT_STORE_BYTES = 128 * 1024**2  # each node's object store, bytes
START_TIMEOUT_S = 90.0  # seconds a node has to register with the GCS
STOP_GRACE_S = 5.0  # seconds `ray start --block` has to stop its processes after SIGTERM, before SIGKILL
FAST_NODE_DEATH = {  # the GCS health check of every node: a period of 1 s, dead after 3 misses of 1 s
    "RAY_health_check_initial_delay_ms": "1000",
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
}


@dataclass
class RayNode:
    proc: subprocess.Popen  # `ray start --block`, the leader of the node's session
    temp_dir: Path  # this node's --temp-dir
    head: bool
    node_id: str = ""  # Ray's id of the node, set by `LocalRayCluster.wait_for_nodes`

    def pids(self) -> list[int]:
        """Every live process of this node: those in the session its `ray start` leads."""
        return session_pids(self.proc.pid)


def _session_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None  # ended while we looked
    fields = stat.rsplit(")", 1)[1].split()  # after the command: state, ppid, pgrp, session, ...
    return None if fields[0] == "Z" else int(fields[3])


def session_pids(sid: int) -> list[int]:
    """The live (not zombie) processes whose session id is `sid`."""
    pids = (int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit())
    return [pid for pid in pids if _session_of(pid) == sid]


def _signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _wait_for_port(port: int, proc: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the Ray head exited with status {proc.returncode} before listening on {port}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"the Ray head did not listen on port {port} within {timeout_s:.0f} s")


class LocalRayCluster:
    """A head node started at once, worker nodes with `add_node`; `stop` (or leaving the `with`) ends them all."""

    def __init__(self, code_dir: Path, cpus_per_node: int = CPUS_PER_NODE) -> None:
        self.cpus_per_node = cpus_per_node
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.env = {**os.environ, **quiet_offline_defaults(), **FAST_NODE_DEATH,
                    "PYTHONPATH": os.pathsep.join([str(code_dir), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
        self.nodes: list[RayNode] = []
        self._start(head=True)

    def __enter__(self) -> LocalRayCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start(self, head: bool) -> RayNode:
        temp_dir = Path(tempfile.mkdtemp(prefix="rh-" if head else "rw-", dir="/tmp"))
        role = ["--head", f"--port={self.port}", "--include-dashboard=false", f"--dashboard-port={free_port()}",
                "--disable-usage-stats"] if head else [f"--address={self.address}"]
        cmd = [str(Path(sys.executable).with_name("ray")), "start", "--block", *role,
               f"--num-cpus={self.cpus_per_node}", "--num-gpus=0", f"--temp-dir={temp_dir}",
               f"--object-store-memory={OBJECT_STORE_BYTES}", f"--dashboard-agent-listen-port={free_port()}",
               f"--dashboard-agent-grpc-port={free_port()}", f"--metrics-export-port={free_port()}",
               f"--runtime-env-agent-port={free_port()}"]
        with open(temp_dir / "ray-start.log", "wb") as out:
            proc = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        node = RayNode(proc=proc, temp_dir=temp_dir, head=head)
        self.nodes.append(node)
        if head:
            _wait_for_port(self.port, proc, START_TIMEOUT_S)
        return node

    def add_node(self) -> RayNode:
        """Start a worker node that joins the head (returns at once; `wait_for_nodes` waits for it)."""
        return self._start(head=False)

    def wait_for_nodes(self, timeout_s: float = START_TIMEOUT_S) -> list[str]:
        """Wait until every node not killed is alive in the GCS; sets and returns their Ray node ids (in start
        order). Needs `ray.init(address=self.address)` in this process."""
        import ray

        deadline = time.monotonic() + timeout_s
        while True:
            alive = {n["RayletSocketName"]: n["NodeID"] for n in ray.nodes() if n["Alive"]}
            for node in self.nodes:
                node.node_id = next((i for sock, i in alive.items() if sock.startswith(f"{node.temp_dir}/")), "")
            running = [n for n in self.nodes if n.proc.poll() is None]
            if all(n.node_id for n in running):
                return [n.node_id for n in running]
            if time.monotonic() > deadline:
                missing = [str(n.temp_dir) for n in running if not n.node_id]
                raise RuntimeError(f"Ray nodes not alive after {timeout_s:.0f} s: {missing} (see ray-start.log there)")
            time.sleep(0.2)

    def leftover_pids(self) -> list[int]:
        """Processes of any node of this cluster still alive."""
        return [pid for node in self.nodes for pid in node.pids()]

    def stop(self) -> None:
        """Stop the worker nodes, then the head: SIGTERM to each `ray start`, SIGKILL to what is left after the
        grace period; then remove the nodes' temporary folders."""
        for node in sorted(self.nodes, key=lambda n: n.head):
            if node.proc.poll() is None:
                node.proc.send_signal(signal.SIGTERM)
                try:
                    node.proc.wait(timeout=STOP_GRACE_S)
                except subprocess.TimeoutExpired:
                    pass
            _signal_all(node.pids(), signal.SIGKILL)
            node.proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while self.leftover_pids() and time.monotonic() < deadline:
            time.sleep(0.1)  # SIGKILLed processes take a moment to leave /proc
        for node in self.nodes:
            shutil.rmtree(node.temp_dir, ignore_errors=True)
