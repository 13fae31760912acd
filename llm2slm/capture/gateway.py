"""The capture gateway: an OpenAI-compatible `POST /v1/chat/completions` that forwards to the upstream LLM,
returns its answer unchanged and records the call.

Order of checks, each answered with an OpenAI-style error body naming the problem and nothing stored: API key
(401 missing/unknown, 403 not an agent key), body size (413), JSON (400), OpenAI schema (400). The request bytes go
upstream as received. A non-streamed answer is returned only after its record is durable in the store (the
handler awaits the writer's group commit), so every 200 is a stored call; when the record cannot be stored the
agent gets a 503 instead, unless `gateway.fail_open` is set. A streamed answer is forwarded event by event as it
arrives; the final `data: [DONE]` is held back until the record is durable (on failure an error event ends the
stream instead). Upstream errors are forwarded with their status and body and recorded with status "error".
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from llm2slm.capture.keys import AuthError, KeyRing, Principal, Role
from llm2slm.capture.metrics import GatewayMetrics
from llm2slm.capture.routing import route_headers, routed_call
from llm2slm.capture.upstream import UpstreamError, UpstreamPool, UpstreamResponse
from llm2slm.capture.records import (CallContext, ParsedRequest, RequestError, SSEParser, StreamAssembler,
                                     build_record, error_text, parse_request)
from llm2slm.capture.writer import CaptureError, RecordWriter
from llm2slm.common.config import GatewayConfig
from llm2slm.common.schema import CallRecord, Source

if TYPE_CHECKING:
    from llm2slm.serving.router import Router

log = logging.getLogger("llm2slm.capture.gateway")
DONE = "[DONE]"


class Reject(Exception):
    """A request refused before it reaches the upstream: HTTP status and a message naming the problem."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


def error_response(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": status}},
                        status_code=status)


def trace_ids(traceparent: str | None) -> tuple[str | None, str | None]:
    """(trace id, parent span id) of a W3C traceparent header, or Nones."""
    parts = (traceparent or "").split("-")
    if len(parts) == 4 and len(parts[1]) == 32 and len(parts[2]) == 16:
        return parts[1], parts[2]
    return None, None


class Gateway:
    """State of one gateway app: settings, key ring, writer, metrics and the pooled upstream connections."""

    def __init__(self, settings: GatewayConfig, keyring: KeyRing, writer: RecordWriter,
                 upstream_key: str | None = None, transport: httpx.AsyncBaseTransport | None = None,
                 router: Router | None = None):
        self.settings = settings
        self.router = router
        self.keyring = keyring
        self.writer = writer
        self.upstream = UpstreamPool(settings.upstream_base_url, upstream_key, settings.upstream_timeout_s,
                                     transport, settings.upstream_client)
        self.metrics = GatewayMetrics(writer, router)
        self.extra_keys = frozenset(settings.extra_request_keys)

    async def aclose(self) -> None:
        await self.upstream.aclose()

    # ---- request checks ----
    def authorize(self, header: str | None) -> Principal:
        scheme, _, token = (header or "").partition(" ")
        if not header:
            raise Reject(401, "missing API key: send 'Authorization: Bearer <agent key>'", "authentication_error")
        if scheme.lower() != "bearer" or not token.strip():
            raise Reject(401, "the Authorization header must read 'Bearer <agent key>'", "authentication_error")
        try:
            return self.keyring.require(token.strip(), Role.AGENT)
        except AuthError as exc:
            kind = "authentication_error" if exc.status == 401 else "permission_error"
            raise Reject(exc.status, exc.message, kind) from exc

    async def read_body(self, request: Request) -> bytes:
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise Reject(400, f"invalid Content-Length header {declared[:40]!r}")
            if int(declared) > limit:
                raise Reject(413, f"request body of {declared} bytes exceeds the limit of {limit} bytes")
        parts, size = [], 0
        async for part in request.stream():
            size += len(part)
            if size > limit:
                raise Reject(413, f"request body exceeds the limit of {limit} bytes")
            parts.append(part)
        return b"".join(parts)

    def parse(self, raw: bytes) -> ParsedRequest:
        if not raw:
            raise Reject(400, "empty request body: expected a JSON chat-completions request")
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError and bad UTF-8 are ValueErrors
            raise Reject(400, f"malformed JSON: {str(exc)[:200]}") from exc
        try:
            return parse_request(body, self.extra_keys)
        except RequestError as exc:
            raise Reject(400, f"invalid chat-completions request: {exc}") from exc

    def context(self, request: Request, principal: Principal, parsed: ParsedRequest) -> CallContext:
        trace_id, parent = trace_ids(request.headers.get("traceparent"))
        # raw ids: the store replaces them with keyed pseudonyms before anything is written
        source = Source(agent=principal.name, user=parsed.user, session=request.headers.get("x-session-id"))
        return CallContext(source=source, trace_id=trace_id, parent_span_id=parent,
                           span_id=os.urandom(8).hex() if trace_id else None)

    # ---- endpoints ----
    async def chat_completions(self, request: Request) -> Response:
        started = time.perf_counter()
        try:
            principal = self.authorize(request.headers.get("authorization"))
            raw = await self.read_body(request)
            parsed = self.parse(raw)
        except Reject as exc:
            response: Response = error_response(exc.status, exc.message, exc.kind)
        else:
            context = self.context(request, principal, parsed)
            local = await self.route(raw, parsed, context, started) if self.router is not None else None
            if local is not None:
                response = local
            elif parsed.stream:
                response = await self.forward_stream(raw, parsed, context, started)
            else:
                response = await self.forward(raw, parsed, context, started)
        self.metrics.observe(response.status_code, time.perf_counter() - started)
        return response

    async def route(self, raw: bytes, parsed: ParsedRequest, context: CallContext, started: float) -> Response | None:
        """The specialist's answer when the router gives the call to one; None when it goes upstream."""
        return await routed_call(self, raw, parsed, context, started)

    async def forward(self, raw: bytes, parsed: ParsedRequest, context: CallContext, started: float) -> Response:
        sent = time.perf_counter()
        try:
            upstream = await self.upstream.post(raw)
        except UpstreamError as exc:
            return await self.upstream_unreachable(exc, parsed, context, started)
        self.metrics.upstream_latency.observe(time.perf_counter() - sent)
        latency_ms = (time.perf_counter() - started) * 1000.0
        answer = upstream.content
        try:
            if upstream.status_code == 200:
                record = build_record(parsed, json.loads(answer), latency_ms, context)
            else:
                record = build_record(parsed, None, latency_ms, context,
                                      error_text(upstream.status_code, answer))
        except Exception as exc:  # noqa: BLE001 - an answer the record cannot hold
            self.writer.note_build_failure(exc)
            if not self.settings.fail_open:
                return error_response(502, f"the upstream answer could not be recorded: {str(exc)[:200]}",
                                      "capture_error")
        else:
            failure = await self.store(record, context)
            if failure is not None:
                return failure
        media = upstream.headers.get("content-type", "application/json")
        return Response(content=answer, status_code=upstream.status_code, media_type=media,
                        headers=route_headers(context.route))

    async def store(self, record: CallRecord, context: CallContext | None = None) -> Response | None:
        """None once the record is durable; else the 503 to answer (or None when failing open)."""
        try:
            await self.writer.write(record)
        except CaptureError as exc:
            if self.settings.fail_open:
                return None
            return error_response(503, f"the call could not be recorded, so it is not answered: {exc}",
                                  "capture_error")
        if record.route is not None and self.router is not None:
            self.router.stored(record)
        if context is not None and context.stored is not None and record.status == "ok":
            context.stored(record)
        return None

    async def upstream_unreachable(self, exc: Exception, parsed: ParsedRequest, context: CallContext,
                                   started: float) -> Response:
        message = f"the upstream LLM at {self.settings.upstream_base_url} did not answer: {exc}"
        latency_ms = (time.perf_counter() - started) * 1000.0
        try:
            await self.writer.write(build_record(parsed, None, latency_ms, context, message))
        except CaptureError:
            pass  # the agent learns of the upstream failure below; the record is best effort here
        return error_response(502, message, "upstream_error")

    async def forward_stream(self, raw: bytes, parsed: ParsedRequest, context: CallContext,
                             started: float) -> Response:
        sent = time.perf_counter()
        try:
            upstream = await self.upstream.open(raw)
        except UpstreamError as exc:
            return await self.upstream_unreachable(exc, parsed, context, started)
        self.metrics.upstream_latency.observe(time.perf_counter() - sent)
        if upstream.status_code != 200:
            try:
                body = await upstream.aread()
            finally:
                await self.upstream.release(upstream)
            latency_ms = (time.perf_counter() - started) * 1000.0
            failure = await self.store(build_record(parsed, None, latency_ms, context,
                                                    error_text(upstream.status_code, body)))
            if failure is not None:
                return failure
            return Response(content=body, status_code=upstream.status_code,
                            media_type=upstream.headers.get("content-type", "application/json"))
        media = upstream.headers.get("content-type", "text/event-stream")
        # the background release also runs when the agent hangs up before the stream starts (release is idempotent)
        return StreamingResponse(self.relay(upstream, parsed, context, started), media_type=media,
                                 headers={"cache-control": "no-cache", **route_headers(context.route)},
                                 background=BackgroundTask(self.upstream.release, upstream))

    async def relay(self, upstream: UpstreamResponse, parsed: ParsedRequest, context: CallContext,
                    started: float) -> AsyncIterator[bytes]:
        """Forward the upstream's events unchanged, holding back [DONE] until the record is durable."""
        parser, assembler, held = SSEParser(), StreamAssembler(), b""
        try:
            async for data in upstream.aiter_raw():
                if held:
                    held += data
                    continue
                for event, payload in parser.feed(data):
                    if held or payload == DONE:
                        held += event
                        continue
                    _add_chunk(assembler, payload)
                    yield event
                if held:  # bytes after [DONE] keep their order behind it
                    held, parser.buffer = held + parser.buffer, b""
            held += parser.buffer
        finally:
            await self.upstream.release(upstream)
        latency_ms = (time.perf_counter() - started) * 1000.0
        outcome = await self.record_stream(parsed, assembler, latency_ms, context)
        yield outcome if outcome is not None else held

    async def record_stream(self, parsed: ParsedRequest, assembler: StreamAssembler, latency_ms: float,
                            context: CallContext) -> bytes | None:
        """None once the streamed call is durable; else the error event that ends the stream."""
        try:
            record = build_record(parsed, assembler.answer(), latency_ms, context)
        except Exception as exc:  # noqa: BLE001 - an answer the record cannot hold
            self.writer.note_build_failure(exc)
            failure: Response | None = None if self.settings.fail_open else error_response(
                502, f"the upstream answer could not be recorded: {str(exc)[:200]}", "capture_error")
        else:
            failure = await self.store(record, context)
        if failure is None:
            return None
        return b"data: " + bytes(failure.body) + b"\n\n"

    async def healthz(self, request: Request) -> Response:  # noqa: ARG002
        if not self.writer.healthy():
            return JSONResponse({"status": "unhealthy", "reason": "the capture writer stopped"}, status_code=503)
        body = {"status": "ok", "queued": self.writer.queued(), "written": self.writer.counts.written,
                "dropped": self.writer.counts.dropped, "failed": self.writer.counts.failed}
        if self.router is not None:
            body["routes"] = self.router.table.view()
        return JSONResponse(body)

    async def metrics_endpoint(self, request: Request) -> Response:  # noqa: ARG002
        body, content_type = self.metrics.render()
        return Response(content=body, media_type=content_type)


def _add_chunk(assembler: StreamAssembler, payload: str | None) -> None:
    if not payload:
        return
    try:
        chunk = json.loads(payload)
    except ValueError:
        return
    if isinstance(chunk, dict):
        assembler.add(chunk)


def create_app(settings: GatewayConfig, keyring: KeyRing, writer: RecordWriter, upstream_key: str | None = None,
               transport: httpx.AsyncBaseTransport | None = None, router: Router | None = None) -> Starlette:
    """The gateway as an ASGI app; `app.state.gateway` holds its state (metrics, writer, router)."""
    gateway = Gateway(settings, keyring, writer, upstream_key, transport, router)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:  # noqa: ARG001
        writer.start()
        gateway.upstream.prepare()
        if router is not None:
            router.start()
        log.info("gateway ready: forwarding to %s", settings.upstream_base_url)
        try:
            yield
        finally:
            if router is not None:
                router.stop()
            await gateway.aclose()
            writer.close()

    routes = [
        Route("/v1/chat/completions", gateway.chat_completions, methods=["POST"]),
        Route("/chat/completions", gateway.chat_completions, methods=["POST"]),
        Route("/healthz", gateway.healthz, methods=["GET"]),
        Route("/metrics", gateway.metrics_endpoint, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.gateway = gateway
    return app


def upstream_key_from_env(settings: GatewayConfig) -> str | None:
    key = os.environ.get(settings.upstream_api_key_env)
    if not key:
        log.warning("$%s is not set: calls go to the upstream without an API key", settings.upstream_api_key_env)
    return key or None
