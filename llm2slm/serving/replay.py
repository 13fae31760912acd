"""Replay captured calls through a gateway as the agent sent them, and measure who answered and how well.

Each call's request (model, messages, tools: raw, as captured) is sent to the gateway by one of `concurrency`
clients; the response's `x-llm2slm-route` and `x-llm2slm-task` headers say who answered and for which task, and
its answer is compared with the LLM's recorded answer (`answers_agree`). With an upstream that answers each
recorded request with its recorded answer, an LLM-answered call agrees by construction; the figure that matters
is the agreement of the calls the specialists answered, and their share of all calls. A call the LLM failed on
when it was captured (status `error`) is replayed too (the upstream fails it again); a specialist may answer it,
but there is no LLM answer to agree with, so it counts in the share and not in the agreement.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel

from llm2slm.common.schema import CallRecord, Message, request_payload, response_to_text
from llm2slm.evaluation.agreement import answers_agree

ALL = "all"


@dataclass(frozen=True)
class Replayed:
    call_id: str
    status: int
    route: str  # specialist | llm | fallback | "" (no route header) | error
    task: str
    model: str | None
    agree: bool
    measurable: bool = True  # the LLM answered the call when it was captured: there is an answer to agree with


class ReplayRow(BaseModel):
    task: str
    calls: int
    by_specialist: int
    share: float  # of the row's calls answered by a specialist
    agreement: float | None  # on the calls a specialist answered that the LLM had answered (None: none)
    unmeasured: int = 0  # calls a specialist answered that the LLM had failed on when captured
    fallbacks: int
    errors: int  # calls the gateway did not answer with 200 (the upstream failed them, as when captured)


def request_body(record: CallRecord) -> bytes:
    payload = request_payload(record.messages, record.tools)
    body = {"model": record.model, "messages": payload["messages"]}
    if payload["tools"]:
        body["tools"] = payload["tools"]
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def answer_of(body: bytes) -> str:
    message = json.loads(body)["choices"][0]["message"]
    return response_to_text(Message.model_validate({k: v for k, v in message.items() if v is not None}))


async def _replay(base_url: str, key: str, records: Sequence[CallRecord], concurrency: int,
                  progress: Callable[[int], None] | None) -> list[Replayed]:
    import httpx

    url = base_url.rstrip("/") + "/v1/chat/completions"
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(records)):
        queue.put_nowait(index)
    results: list[Replayed | None] = [None] * len(records)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        async def one_client() -> None:
            while not queue.empty():
                index = queue.get_nowait()
                record = records[index]
                response = await client.post(url, content=request_body(record), headers=headers)
                results[index] = _result(record, response.status_code, response.headers, response.content)
                if progress is not None:
                    progress(1)

        await asyncio.gather(*(one_client() for _ in range(max(1, concurrency))))
    return [r for r in results if r is not None]


def _result(record: CallRecord, status: int, headers, content: bytes) -> Replayed:
    measurable = record.status == "ok"
    if status != 200:
        return Replayed(record.id, status, "error", headers.get("x-llm2slm-task", "none"), None, False, measurable)
    return Replayed(record.id, status, headers.get("x-llm2slm-route", ""), headers.get("x-llm2slm-task", "none"),
                    headers.get("x-llm2slm-model"),
                    measurable and answers_agree(answer_of(content), record.answer_text()), measurable)


def replay_calls(base_url: str, key: str, records: Sequence[CallRecord], concurrency: int = 16,
                 progress: Callable[[int], None] | None = None) -> list[Replayed]:
    """Every record's request sent through the gateway at `base_url`; results in the records' order."""
    return asyncio.run(_replay(base_url, key, records, concurrency, progress))


def replay_table(results: Sequence[Replayed]) -> list[ReplayRow]:
    """One row per task the router named, then the row of all calls."""
    groups: dict[str, list[Replayed]] = defaultdict(list)
    for result in results:
        groups[result.task].append(result)
    rows = [_row(task, calls) for task, calls in sorted(groups.items())]
    return rows + [_row(ALL, list(results))]


def _row(task: str, calls: list[Replayed]) -> ReplayRow:
    routes = Counter(c.route for c in calls)
    served = [c for c in calls if c.route == "specialist"]
    scored = [c for c in served if c.measurable]
    return ReplayRow(task=task, calls=len(calls), by_specialist=len(served),
                     share=len(served) / len(calls) if calls else 0.0,
                     agreement=sum(c.agree for c in scored) / len(scored) if scored else None,
                     unmeasured=len(served) - len(scored), fallbacks=routes["fallback"], errors=routes["error"])
