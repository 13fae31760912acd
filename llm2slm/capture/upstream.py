"""Kept-alive connections from the gateway to the upstream LLM API.

httpx's pooled transport is used without the client layer (no cookie jar, redirects or URL merging to pay for on
every call), split into shards: the connection pool scans all of its connections, several times over, each time a
request starts or ends, so its cost grows with the square of the connections it holds. Each call goes to the shard
with the fewest calls in flight, which keeps every pool small. Everything here runs on the gateway's event loop.
"""

from __future__ import annotations

import httpx

SHARDS = 8  # independent connection pools
LIMITS = httpx.Limits(max_connections=128, max_keepalive_connections=128, keepalive_expiry=60)  # per shard


class UpstreamPool:
    def __init__(self, base_url: str, api_key: str | None, timeout_s: float,
                 transport: httpx.AsyncBaseTransport | None = None):
        self.url = httpx.URL(base_url.rstrip("/") + "/chat/completions")  # parsed once
        self.headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
        if api_key:
            self.headers["authorization"] = f"Bearer {api_key}"
        self.timeout = httpx.Timeout(timeout_s).as_dict()
        self._given = transport
        self._shards: list[httpx.AsyncBaseTransport] = []
        self._busy: list[int] = []
        self._owner: dict[int, int] = {}  # id(open response) -> its shard

    def prepare(self) -> None:
        """Create the shards now (the gateway's start-up) rather than on the first call."""
        if self._shards:
            return
        if self._given is not None:
            self._shards = [self._given]
        else:
            tls = httpx.create_ssl_context()  # one for all shards: loading the CA bundle takes ~0.1 s
            self._shards = [httpx.AsyncHTTPTransport(verify=tls, limits=LIMITS) for _ in range(SHARDS)]
        self._busy = [0] * len(self._shards)

    def _pick(self) -> int:
        self.prepare()
        shard = min(range(len(self._busy)), key=self._busy.__getitem__)
        self._busy[shard] += 1
        return shard

    async def open(self, raw: bytes) -> httpx.Response:
        """POST the request bytes as received; the caller reads the body and then calls `release`."""
        shard = self._pick()
        request = httpx.Request("POST", self.url, headers=self.headers, content=raw,
                                extensions={"timeout": self.timeout})
        try:
            response = await self._shards[shard].handle_async_request(request)
        except BaseException:
            self._busy[shard] -= 1
            raise
        self._owner[id(response)] = shard
        return response

    async def release(self, response: httpx.Response) -> None:
        shard = self._owner.pop(id(response), None)
        try:
            await response.aclose()
        finally:
            if shard is not None:
                self._busy[shard] -= 1

    async def post(self, raw: bytes) -> httpx.Response:
        """POST and read the whole answer; the connection goes back to its pool."""
        response = await self.open(raw)
        try:
            await response.aread()
        finally:
            await self.release(response)
        return response

    async def aclose(self) -> None:
        if self._given is None:
            for transport in self._shards:
                await transport.aclose()
        self._shards, self._busy = [], []
