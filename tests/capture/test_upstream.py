"""The gateway's upstream clients (aiohttp, the default, and httpx) over real 127.0.0.1 connections: forwarding,
kept-alive connections, an upstream that never answers and one that breaks a stream off."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest

from llm2slm.capture.upstream import UpstreamPool
from llm2slm.capture.writer import RecordWriter
from llm2slm.common.config import GatewayConfig
from tests.capture.conftest import running_gateway, stored

CLIENTS = ["aiohttp", "httpx"]
MESSAGES = [{"role": "user", "content": "Where is my parcel?"}]
ANSWER = json.dumps({"id": "c1", "object": "chat.completion", "model": "gpt-test",
                     "choices": [{"index": 0, "message": {"role": "assistant", "content": "on its way"},
                                  "finish_reason": "stop"}],
                     "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}}).encode()
EVENT = b'data: {"model": "gpt-test", "choices": [{"index": 0, "delta": {"content": "on its"}}]}\n\n'


def _auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", "content-type": "application/json"}


@pytest.fixture()
def writer(store):
    return RecordWriter(store, queue_size=100, batch_size=16)  # closed by the gateway's shutdown


def _read_request(conn: socket.socket, buffer: bytes) -> tuple[bytes, bytes] | None:
    """(head and body of one HTTP/1.1 request, the bytes after it), or None when the peer closed."""
    while b"\r\n\r\n" not in buffer:
        data = conn.recv(65536)
        if not data:
            return None
        buffer += data
    head, rest = buffer.split(b"\r\n\r\n", 1)
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length"))
    while len(rest) < length:
        rest += conn.recv(65536)
    return head + b"\r\n\r\n" + rest[:length], rest[length:]


class RawUpstream:
    """A plain socket server on 127.0.0.1: `serve(conn, number)` handles each accepted connection in a thread."""

    def __init__(self, serve: Callable[[socket.socket, int], None]):
        self.serve, self.connections = serve, 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn, self.connections), daemon=True).start()

    def _handle(self, conn: socket.socket, number: int) -> None:
        with conn:
            self.serve(conn, number)


@pytest.fixture()
def raw_upstream() -> Iterator[Callable[[Callable[[socket.socket, int], None]], RawUpstream]]:
    servers: list[RawUpstream] = []
    yield lambda serve: servers.append(RawUpstream(serve)) or servers[-1]
    for server in servers:
        server.sock.close()


def _answer_every_request(conn: socket.socket, number: int) -> None:  # noqa: ARG001
    buffer = b""
    while (request := _read_request(conn, buffer)) is not None:
        buffer = request[1]
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                     + str(len(ANSWER)).encode() + b"\r\n\r\n" + ANSWER)


def test_the_default_client_is_aiohttp_and_an_unknown_one_is_refused():
    assert GatewayConfig().upstream_client == "aiohttp"
    with pytest.raises(ValueError, match="unknown upstream client 'curl'"):
        UpstreamPool("http://127.0.0.1:1/v1", None, 1.0, client="curl")


@pytest.mark.parametrize("client", CLIENTS)
def test_each_client_forwards_byte_for_byte_with_only_the_upstream_key(fake_upstream, store, writer, keyring,
                                                                     agent_token, client):
    fake, upstream = fake_upstream
    plain = json.dumps({"model": "gpt-test", "messages": MESSAGES}).encode()
    streamed = json.dumps({"model": "gpt-test", "messages": MESSAGES, "stream": True}).encode()
    direct = [httpx.post(f"{upstream}/chat/completions", content=body, headers=_auth("k")).content
              for body in (plain, streamed)]
    with running_gateway(writer, keyring, upstream, upstream_client=client) as gateway:
        through = [httpx.post(f"{gateway}/v1/chat/completions", content=body, headers=_auth(agent_token))
                   for body in (plain, streamed)]
    assert [r.content for r in through] == direct and direct[1].endswith(b"data: [DONE]\n\n")
    assert fake.received[-2:] == [plain, streamed]
    sent = fake.received_headers[-1]
    assert sent["authorization"] == "Bearer upstream-secret" and agent_token not in json.dumps(sent)
    assert "accept-encoding" not in sent and "cookie" not in sent
    assert [r.response.content for r in stored(store)] == ["echo: Where is my parcel?"] * 2


@pytest.mark.parametrize("client", CLIENTS)
def test_calls_reuse_one_kept_alive_upstream_connection(raw_upstream, store, writer, keyring, agent_token, client):
    upstream = raw_upstream(_answer_every_request)
    with running_gateway(writer, keyring, upstream.url, upstream_client=client) as gateway:
        with httpx.Client() as agent:
            answers = [agent.post(f"{gateway}/v1/chat/completions", json={"model": "gpt-test", "messages": MESSAGES},
                                  headers=_auth(agent_token)) for _ in range(12)]
    assert [(a.status_code, a.content) for a in answers] == [(200, ANSWER)] * 12
    assert upstream.connections == 1
    assert len(stored(store)) == 12


@pytest.mark.parametrize("client", CLIENTS)
def test_an_upstream_that_never_answers_is_a_502_once_the_timeout_passes(raw_upstream, store, writer, keyring,
                                                                       agent_token, client):
    release = threading.Event()
    upstream = raw_upstream(lambda conn, number: (_read_request(conn, b""), release.wait(30)))
    try:
        with running_gateway(writer, keyring, upstream.url, upstream_client=client,
                             upstream_timeout_s=0.3) as gateway:
            response = httpx.post(f"{gateway}/v1/chat/completions", json={"model": "gpt-test", "messages": MESSAGES},
                                  headers=_auth(agent_token), timeout=30)
    finally:
        release.set()
    assert response.status_code == 502 and response.json()["error"]["type"] == "upstream_error"
    [record] = stored(store)
    assert record.status == "error" and "did not answer: " in record.error and "Timeout" in record.error


def _stream_then_hang_up(conn: socket.socket, number: int) -> None:
    if number == 1:  # one event of a chunked stream, then the connection is closed mid-answer
        _read_request(conn, b"")
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
                     + f"{len(EVENT):x}\r\n".encode() + EVENT + b"\r\n")
        return
    _answer_every_request(conn, number)


@pytest.mark.parametrize("client", CLIENTS)
def test_a_stream_broken_off_upstream_ends_without_done_and_the_next_call_works(raw_upstream, store, writer,
                                                                                 keyring, agent_token, client):
    upstream = raw_upstream(_stream_then_hang_up)
    received = b""
    with running_gateway(writer, keyring, upstream.url, upstream_client=client) as gateway:
        with pytest.raises(httpx.RemoteProtocolError):  # the agent's stream is cut off too
            with httpx.stream("POST", f"{gateway}/v1/chat/completions", headers=_auth(agent_token),
                              json={"model": "gpt-test", "messages": MESSAGES, "stream": True}) as response:
                for data in response.iter_raw():
                    received += data
        after = httpx.post(f"{gateway}/v1/chat/completions", json={"model": "gpt-test", "messages": MESSAGES},
                           headers=_auth(agent_token))
    assert received == EVENT  # forwarded as it arrived; no [DONE], since the call was not recorded
    assert (after.status_code, after.content) == (200, ANSWER)
    assert [r.response.content for r in stored(store)] == ["on its way"]
