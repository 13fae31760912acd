"""SIGKILL the gateway process under concurrent load; after a restart every call answered 200 is in the store and
every record reads back whole."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from llm2slm.capture.crypto import MasterKey
from llm2slm.testing.fake_llm import FakeLLM, ServerThread, free_port
from llm2slm.capture.keys import Role
from llm2slm.common.config import load_config
from llm2slm.capture import open_keyring, open_store
from tests.capture.conftest import stored

REPO = Path(__file__).resolve().parents[2]
CONCURRENT = 32  # clients sending at once
KILL_AFTER_OK = 150  # answered calls before the SIGKILL


def _start_gateway(project: Path, home: Path, port: int, upstream: str, env: dict[str, str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "llm2slm.cli", "gateway", "--project", str(project), "--home", str(home),
               "--port", str(port), "--upstream", upstream]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gateway exited: {process.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise AssertionError("gateway did not answer /healthz within 60 s")


async def _load_until_killed(url: str, token: str, process: subprocess.Popen) -> tuple[set[str], int]:
    """Send calls from CONCURRENT clients; SIGKILL the gateway once KILL_AFTER_OK were answered. Returns the
    contents of the calls answered 200 and how many calls failed (cut off by the kill)."""
    answered: set[str] = set()
    failed = 0

    async def client(worker: int) -> None:
        nonlocal failed
        async with httpx.AsyncClient(timeout=30) as http:
            for i in range(10_000):
                content = f"crash-{worker}-{i}"
                try:
                    response = await http.post(url, json={"model": "gpt-test", "messages": [
                        {"role": "user", "content": content}]}, headers={"authorization": f"Bearer {token}"})
                except httpx.HTTPError:
                    failed += 1
                    return
                if response.status_code == 200:
                    answered.add(content)
                    if len(answered) >= KILL_AFTER_OK and process.poll() is None:
                        os.kill(process.pid, signal.SIGKILL)

    await asyncio.gather(*(client(w) for w in range(CONCURRENT)))
    return answered, failed


@pytest.mark.slow
def test_sigkill_under_load_loses_no_answered_call(tmp_path, monkeypatch):
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    # commits wait 200 ms for company: a gateway that answered before its record were durable would lose calls
    (project / "params.yaml").write_text("gateway:\n  commit_linger_ms: 200\n")
    monkeypatch.setenv("LLM2SLM_MASTER_KEY", MasterKey.generate().to_text())
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cfg = load_config(project, home)
    token = open_keyring(cfg).create("crash-test-agent", Role.AGENT)
    upstream = ServerThread(FakeLLM(delay_ms=3, keep_bodies=False), free_port()).start()
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    first = _start_gateway(project, home, port, upstream.url + "/v1", env)
    answered, failed = asyncio.run(_load_until_killed(url, token, first))
    assert first.wait(timeout=10) == -signal.SIGKILL
    assert len(answered) >= KILL_AFTER_OK and failed > 0  # the kill cut calls off mid-flight

    second = _start_gateway(project, home, port, upstream.url + "/v1", env)
    after = httpx.post(url, json={"model": "gpt-test", "messages": [{"role": "user", "content": "after"}]},
                       headers={"authorization": f"Bearer {token}"}, timeout=30)
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=20) in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM after shutting down
    upstream.stop()
    assert after.status_code == 200

    store = open_store(cfg)
    records = stored(store)  # decrypts and validates every frame: a torn record would raise here
    contents = {r.messages[0].content for r in records}
    assert answered <= contents
    assert "after" in contents
    assert all(r.response.content == f"echo: {r.messages[0].content}" for r in records)
    assert len(records) == store.count() == len(contents)
