"""Two `llm2slm gateway` processes on one store under concurrent load: one is SIGKILLed mid-load, its clients fail
over to the survivor, and the export holds every call either process answered 200, each segment written by one
replica only."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from llm2slm.capture import open_keyring, open_store
from llm2slm.capture.crypto import MasterKey
from llm2slm.capture.export import export_records
from llm2slm.capture.keys import Role
from llm2slm.common.config import load_config
from llm2slm.common.snapshot import read_snapshot
from llm2slm.testing.fake_llm import FakeLLM, ServerThread, free_port
from tests.capture.conftest import CURATOR
from tests.capture.test_gateway_crash import _start_gateway

pytestmark = pytest.mark.slow

CLIENTS = 6  # client threads per replica
KILL_AT = 120  # calls answered 200 (both replicas together) before replica "b" is SIGKILLed
TOTAL = 360  # calls answered 200 in all before the load stops


class Load:
    """Client threads sending numbered calls; the marker of each call names the replica it was sent to."""

    def __init__(self, urls: dict[str, str], token: str, victim: subprocess.Popen):
        self.urls, self.token, self.victim = urls, token, victim
        self.answered: set[str] = set()  # markers of the calls answered 200
        self.cut_off = 0  # calls that got no answer (the kill)
        self.refused: list[str] = []  # answers other than 200
        self.lock = threading.Lock()

    def client(self, replica: str, thread: int) -> None:
        origin = replica
        with httpx.Client(timeout=30) as http:
            for i in range(10_000):
                with self.lock:
                    if len(self.answered) >= TOTAL:
                        return
                marker = f"r{replica}-{origin}{thread}-{i}"  # unique: the thread's first replica and number
                try:
                    response = http.post(self.urls[replica], json={"model": "gpt-test", "messages": [
                        {"role": "user", "content": marker}]}, headers={"authorization": f"Bearer {self.token}"})
                except httpx.HTTPError:
                    with self.lock:
                        self.cut_off += 1
                    replica = "a"  # fail over to the survivor, as a load balancer would
                    continue
                with self.lock:
                    if response.status_code != 200:
                        self.refused.append(f"{response.status_code}: {response.text[:200]}")
                        return
                    self.answered.add(marker)
                    if len(self.answered) >= KILL_AT and self.victim.poll() is None:
                        os.kill(self.victim.pid, signal.SIGKILL)

    def run(self) -> None:
        threads = [threading.Thread(target=self.client, args=(replica, t))
                   for replica in ("a", "b") for t in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)


def test_two_replicas_one_store_sigkill_loses_no_answered_call(tmp_path, monkeypatch):
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    # 16 KiB segments: each replica rolls over several times while the other appends; commits linger 20 ms so an
    # acknowledgement sent before its record were durable would show as a lost call
    (project / "params.yaml").write_text("gateway:\n  commit_linger_ms: 20\ncapture:\n  segment_max_bytes: 16384\n")
    monkeypatch.setenv("LLM2SLM_MASTER_KEY", MasterKey.generate().to_text())
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    cfg = load_config(project, home)
    token = open_keyring(cfg).create("replica-test-agent", Role.AGENT)
    upstream = ServerThread(FakeLLM(delay_ms=2, keep_bodies=False), free_port()).start()
    ports = {"a": free_port(), "b": free_port()}
    processes = {name: _start_gateway(project, home, port, upstream.url + "/v1", env)
                 for name, port in ports.items()}
    try:
        load = Load({name: f"http://127.0.0.1:{port}/v1/chat/completions" for name, port in ports.items()},
                    token, processes["b"])
        load.run()
        assert processes["b"].wait(timeout=10) == -signal.SIGKILL
        processes["a"].send_signal(signal.SIGTERM)  # the survivor drains and seals its segment
        assert processes["a"].wait(timeout=20) in (0, -signal.SIGTERM)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
        upstream.stop()

    by_replica = {name: {m for m in load.answered if m.startswith(f"r{name}-")} for name in ports}
    assert load.refused == []
    assert len(load.answered) >= TOTAL and load.cut_off > 0  # the kill cut calls off mid-flight
    assert len(by_replica["b"]) >= KILL_AT // 4 and len(by_replica["a"]) > len(by_replica["b"])

    store = open_store(cfg)
    info = export_records(store, CURATOR, tmp_path / "export.parquet", scrub=lambda r: r)
    exported = [r.messages[0].content for r in read_snapshot(info.path)]
    assert load.answered <= set(exported)  # every acknowledged call of both replicas
    assert len(exported) == len(set(exported)) == info.n_calls  # no call twice
    writers = {}  # segment -> the replicas whose calls it holds
    for name, size in store.sizes().items():
        writers[name] = {str(r.messages[0].content)[1] for r in store.read(CURATOR, upto={name: size})}
    written = [found for found in writers.values() if found]
    assert all(len(found) == 1 for found in written), writers  # one writer per segment
    assert {"a"} in written and {"b"} in written and len(written) >= 4  # each replica rolled over its own segments
