"""Kept-alive connections from the gateway to the upstream LLM API.

The default client is aiohttp: one `ClientSession` on a keep-alive `TCPConnector` pool, whose HTTP parser is
compiled, costs about a third of the CPU per call of httpx's pooled transport on the same requests
(`benchmarks/capture.py` measures both). The request bytes go out as received with the gateway's own headers
(no cookies, redirects, proxies from the environment or compression asked for). `upstream_client: httpx` keeps the
previous client (`llm2slm.capture.upstream_httpx`), and a test can pass an httpx transport, which selects it too.
Everything here runs on the gateway's event loop; a failure to reach the upstream, a timeout or a connection
broken off mid-answer is raised as `UpstreamError`.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

import aiohttp

CLIENTS = ("aiohttp", "httpx")
MAX_CONNECTIONS = 1024  # to the upstream, at most
KEEPALIVE_S = 60.0  # an idle upstream connection is closed after this long, seconds
_FAILURES = (aiohttp.ClientError, asyncio.TimeoutError, OSError)


class UpstreamError(Exception):
    """The upstream could not be reached, timed out or broke the connection; the message names the failure."""


def upstream_error(exc: BaseException) -> UpstreamError:
    return UpstreamError(type(exc).__name__)


class UpstreamResponse(Protocol):
    status_code: int
    headers: Mapping[str, str]
    content: bytes

    async def aread(self) -> bytes: ...

    def aiter_raw(self) -> AsyncIterator[bytes]: ...


class _Answer:
    """An aiohttp response seen through the attributes the gateway uses (those of an httpx response)."""

    __slots__ = ("status_code", "headers", "content", "raw")

    def __init__(self, raw: aiohttp.ClientResponse):
        self.raw = raw
        self.status_code = raw.status
        self.headers = raw.headers  # case-insensitive
        self.content = b""

    async def aread(self) -> bytes:
        try:
            self.content = await self.raw.read()
        except _FAILURES as exc:
            raise upstream_error(exc) from exc
        return self.content

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        """The body's bytes as they arrive."""
        try:
            async for data in self.raw.content.iter_any():
                yield data
        except _FAILURES as exc:
            raise upstream_error(exc) from exc


class UpstreamPool:
    """`post` (whole answer), or `open` + `release` (streamed), to `<base_url>/chat/completions`."""

    def __init__(self, base_url: str, api_key: str | None, timeout_s: float, transport: Any = None,
                 client: str = "aiohttp"):
        if client not in CLIENTS:
            raise ValueError(f"unknown upstream client {client!r}: expected one of {', '.join(CLIENTS)}")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
        if api_key:
            self.headers["authorization"] = f"Bearer {api_key}"
        self.timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None
        self._other: Any = None  # the httpx pool, when that client is chosen
        if transport is not None or client == "httpx":
            from llm2slm.capture.upstream_httpx import HttpxPool

            self._other = HttpxPool(self.url, self.headers, timeout_s, transport)

    def prepare(self) -> None:
        """Create the connection pool now (the gateway's start-up, on its event loop) rather than on the first call."""
        if self._other is not None:
            self._other.prepare()
        elif self._session is None:
            self._session = _session(self.timeout_s)

    async def open(self, raw: bytes) -> UpstreamResponse:
        """POST the request bytes as received; the caller reads the body and then calls `release`."""
        if self._other is not None:
            return await self._other.open(raw)  # type: ignore[no-any-return]
        if self._session is None:
            self.prepare()
        assert self._session is not None
        try:
            response = await self._session.post(self.url, data=raw, headers=self.headers, allow_redirects=False)
        except _FAILURES as exc:
            raise upstream_error(exc) from exc
        return _Answer(response)

    async def release(self, response: UpstreamResponse) -> None:
        """Give the connection back (closed instead when the body was not read to its end); safe to call twice."""
        if isinstance(response, _Answer):
            response.raw.release()
        else:
            await self._other.release(response)

    async def post(self, raw: bytes) -> UpstreamResponse:
        """POST and read the whole answer; the connection goes back to its pool."""
        response = await self.open(raw)
        try:
            await response.aread()
        finally:
            await self.release(response)
        return response

    async def aclose(self) -> None:
        if self._other is not None:
            await self._other.aclose()
        if self._session is not None:
            await self._session.close()
            self._session = None


def _session(timeout_s: float) -> aiohttp.ClientSession:
    import certifi

    tls = ssl.create_default_context(cafile=certifi.where())  # the CA bundle httpx used, wherever this runs
    connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS, limit_per_host=0, keepalive_timeout=KEEPALIVE_S,
                                     ssl=tls)
    timeout = aiohttp.ClientTimeout(total=None, connect=timeout_s, sock_connect=timeout_s, sock_read=timeout_s)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar(),
                                 skip_auto_headers=("User-Agent", "Accept-Encoding"), trust_env=False)
