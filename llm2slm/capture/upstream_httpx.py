"""The gateway's previous upstream client, kept selectable (`gateway.upstream_client: httpx`) and for tests that
pass an httpx transport: httpx's pooled transport without the client layer, split into shards.

The connection pool scans all of its connections, several times over, each time a request starts or ends, so its
cost grows with the square of the connections it holds; each call goes to the shard with the fewest calls in
flight, which keeps every pool small.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from llm2slm.capture.upstream import upstream_error

SHARDS = 8  # independent connection pools
LIMITS = httpx.Limits(max_connections=128, max_keepalive_connections=128, keepalive_expiry=60)  # per shard


class HttpxAnswer:
    """An httpx response whose failures are raised as `UpstreamError`."""

    __slots__ = ("status_code", "headers", "content", "raw", "shard")

    def __init__(self, raw: httpx.Response, shard: int):
        self.raw, self.shard = raw, shard
        self.status_code = raw.status_code
        self.headers = raw.headers
        self.content = b""

    async def aread(self) -> bytes:
        try:
            self.content = await self.raw.aread()
        except httpx.HTTPError as exc:
            raise upstream_error(exc) from exc
        return self.content

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        try:
            async for data in self.raw.aiter_raw():
                yield data
        except httpx.HTTPError as exc:
            raise upstream_error(exc) from exc


class HttpxPool:
    def __init__(self, url: str, headers: dict[str, str], timeout_s: float,
                 transport: httpx.AsyncBaseTransport | None = None):
        self.url = httpx.URL(url)  # parsed once
        self.headers = headers
        self.timeout = httpx.Timeout(timeout_s).as_dict()
        self._given = transport
        self._shards: list[httpx.AsyncBaseTransport] = []
        self._busy: list[int] = []

    def prepare(self) -> None:
        if self._shards:
            return
        if self._given is not None:
            self._shards = [self._given]
        else:
            tls = httpx.create_ssl_context()  # one for all shards: loading the CA bundle takes ~0.1 s
            self._shards = [httpx.AsyncHTTPTransport(verify=tls, limits=LIMITS) for _ in range(SHARDS)]
        self._busy = [0] * len(self._shards)

    async def open(self, raw: bytes) -> HttpxAnswer:
        self.prepare()
        shard = min(range(len(self._busy)), key=self._busy.__getitem__)
        self._busy[shard] += 1
        request = httpx.Request("POST", self.url, headers=self.headers, content=raw,
                                extensions={"timeout": self.timeout})
        try:
            response = await self._shards[shard].handle_async_request(request)
        except BaseException as exc:
            self._busy[shard] -= 1
            if isinstance(exc, httpx.HTTPError):
                raise upstream_error(exc) from exc
            raise
        return HttpxAnswer(response, shard)

    async def release(self, response: HttpxAnswer) -> None:
        if response.shard < 0:
            return
        shard, response.shard = response.shard, -1
        try:
            await response.raw.aclose()
        finally:
            self._busy[shard] -= 1

    async def aclose(self) -> None:
        if self._given is None:
            for transport in self._shards:
                await transport.aclose()
        self._shards, self._busy = [], []
