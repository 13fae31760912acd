"""The gateway's side of routing: ask the router, answer locally with the specialist, or let the call go upstream
with its route recorded.

A call the specialist answers is stored like any other (its record carries the route, the specialist's name and
version, and its confidence) before the agent gets the answer, whole or as a stream. A call that goes upstream
keeps its route info in its context, so the record the gateway writes after the LLM's answer carries it; in shadow
mode the stored LLM answer is handed to the router for the off-path comparison. Every response names its route in
the `x-llm2slm-route` header (with `x-llm2slm-task` and, when a specialist answered, `x-llm2slm-model`).
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, Response, StreamingResponse

from llm2slm.capture.records import CallContext, ParsedRequest, build_record
from llm2slm.common.schema import RouteInfo, request_payload
from llm2slm.serving.answers import completion_body, completion_events, usage_estimate

if TYPE_CHECKING:
    from llm2slm.capture.gateway import Gateway
    from llm2slm.serving.router import Decision, SpecialistAnswer

ROUTE_HEADER, TASK_HEADER, MODEL_HEADER = "x-llm2slm-route", "x-llm2slm-task", "x-llm2slm-model"


def route_headers(info: RouteInfo | None) -> dict[str, str]:
    if info is None:
        return {}
    headers = {ROUTE_HEADER: info.route, TASK_HEADER: info.task_id}
    if info.route == "specialist" and info.model:
        headers[MODEL_HEADER] = f"{info.model}/{info.version}"
    return headers


def request_row(parsed: ParsedRequest) -> dict[str, Any]:
    """The request as the specialists read it: `{"messages": [...], "tools": [...] | None}`."""
    return request_payload(parsed.messages, parsed.tools)


async def routed_call(gateway: "Gateway", raw: bytes, parsed: ParsedRequest, context: CallContext,
                      started: float) -> Response | None:
    """The specialist's response, or None when the call goes upstream (its route then set on `context`)."""
    from llm2slm.serving.router import SpecialistAnswer

    router = gateway.router
    if not router.table.live_tasks():
        return None  # no live route anywhere: the plain proxy path, no route recorded
    decision = router.decide(parsed.messages, parsed.tools)
    row = request_row(parsed)
    if decision.ask:
        result = await router.answer(decision, row, parsed.tools)
        if isinstance(result, SpecialistAnswer):
            return await answer_locally(gateway, raw, parsed, context, started, result)
        context.route = result
    else:
        router.count_llm(decision)
        context.route = decision.info("llm")
    if decision.shadow:
        context.stored = _shadow_hook(router, decision, row)
    return None


def _shadow_hook(router: Any, decision: "Decision", row: dict[str, Any]):
    def stored(record) -> None:
        router.shadow(decision, row, record.answer_text(), record.id)
    return stored


async def answer_locally(gateway: "Gateway", raw: bytes, parsed: ParsedRequest, context: CallContext,
                         started: float, answer: "SpecialistAnswer") -> Response:
    usage = usage_estimate(len(raw), answer.message)
    body = completion_body(answer.message, answer.finish, answer.model, usage)
    context.route = answer.info
    record = build_record(parsed, body, (time.perf_counter() - started) * 1000.0, context)
    failure = await gateway.store(record, context)
    if failure is not None:
        return failure
    headers = route_headers(answer.info)
    if not parsed.stream:
        return JSONResponse(body, headers=headers)
    events = completion_events(answer.message, answer.finish, answer.model,
                               usage if _wants_usage(raw) else None)
    return StreamingResponse(iter(events), media_type="text/event-stream",
                             headers={"cache-control": "no-cache", **headers})


def _wants_usage(raw: bytes) -> bool:
    try:
        options = json.loads(raw).get("stream_options") or {}
    except (ValueError, AttributeError):
        return False
    return isinstance(options, dict) and bool(options.get("include_usage"))
