"""Shared pieces of the capture tests: the fake upstream LLM on 127.0.0.1, an encrypted store, a key ring."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from llm2slm.capture.crypto import MasterKey
from llm2slm.capture.gateway import create_app
from llm2slm.testing.fake_llm import FakeLLM, ServerThread, free_port
from llm2slm.capture.keys import KeyRing, Principal, Role
from llm2slm.capture.store import CallStore
from llm2slm.common.config import GatewayConfig
from llm2slm.common.schema import CallRecord

CURATOR = Principal(key_id="000000000000", name="test-curator", role=Role.CURATOR)
TOOLS = [{"type": "function", "function": {"name": "lookup_weather", "description": "Weather for a city",
                                           "parameters": {"type": "object",
                                                          "properties": {"query": {"type": "string"}}}}}]


def stored(store: CallStore) -> list[CallRecord]:
    return list(store.read(CURATOR))


@pytest.fixture(scope="module")
def fake_upstream() -> Iterator[tuple[FakeLLM, str]]:
    """(the fake's app, its OpenAI base URL)."""
    fake = FakeLLM()
    server = ServerThread(fake, free_port()).start()
    yield fake, server.url + "/v1"
    server.stop()


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[CallStore]:
    call_store = CallStore(tmp_path / "store", MasterKey.generate())
    yield call_store
    call_store.close()


@pytest.fixture()
def keyring(tmp_path: Path) -> KeyRing:
    return KeyRing(tmp_path / "keys.json")


@pytest.fixture()
def agent_token(keyring: KeyRing) -> str:
    return keyring.create("support-bot", Role.AGENT)


@contextmanager
def running_gateway(writer, keyring: KeyRing, upstream_url: str, **settings) -> Iterator[str]:
    """A gateway app on a free 127.0.0.1 port (uvicorn in a thread); yields its base URL."""
    config = GatewayConfig(upstream_base_url=upstream_url, **settings)
    server = ServerThread(create_app(config, keyring, writer, upstream_key="upstream-secret"), free_port()).start()
    try:
        yield server.url
    finally:
        server.stop()
