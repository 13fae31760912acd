"""1,200 seeded malformed or hostile requests, in process: every one a 4xx, nothing stored or sent upstream."""

from __future__ import annotations

import asyncio
import copy
import json
import random
from collections import Counter
from typing import Any

import httpx

from llm2slm.capture.gateway import create_app
from llm2slm.capture.keys import Role
from llm2slm.capture.writer import RecordWriter
from llm2slm.common.config import GatewayConfig
from tests.capture.conftest import TOOLS, stored

SEED = 20251128
CASES = 1200
LIMIT = 64 * 1024  # the gateway's body limit in this test, bytes
VALID = {"model": "gpt-test", "messages": [{"role": "system", "content": "Be brief."},
                                           {"role": "user", "content": "hello"},
                                           {"role": "assistant", "content": None, "tool_calls": [
                                               {"id": "c1", "type": "function",
                                                "function": {"name": "lookup_weather", "arguments": "{}"}}]},
                                           {"role": "tool", "tool_call_id": "c1", "content": "sunny"}],
         "tools": TOOLS, "temperature": 0.5}

# values that each field must refuse
WRONG: dict[tuple[Any, ...], list[Any]] = {
    ("model",): [None, 5, "", [], {}, True, 1.5],
    ("messages",): [None, "hi", 5, [], {}, [5], ["x"], [[]], [None]],
    ("messages", 1, "role"): [None, 5, "robot", "", "USER", ["user"]],
    ("messages", 1, "content"): [5, 1.5, True, {"text": "x"}, [5], [{"type": 5}], [{"type": "text", "text": 5}],
                                 [{"type": "text"}], ["plain"]],
    ("messages", 1, "name"): [5, [], {}],
    ("messages", 2, "tool_calls"): [5, "x", [5], [{"id": 1}], [{"id": "a", "function": {"name": "", "arguments":
                                                                                         "{}"}}],
                                    [{"id": "a", "function": {"name": "f", "arguments": {"x": 1}}}],
                                    [{"id": "a", "type": "code", "function": {"name": "f", "arguments": "{}"}}]],
    ("messages", 3, "tool_call_id"): [5, [], {}],
    ("tools",): [5, "x", {}, [5], [{"type": "function"}], [{"type": "function", "function": {"name": ""}}],
                 [{"type": "retrieval", "function": {"name": "a"}}], [{"function": {"name": "a", "parameters": 5}}]],
    ("stream",): ["yes", 5, [], {}, "true"],
    ("temperature",): ["hot", -1, 3, [], {}, True],
    ("top_p",): [-0.1, 1.5, "1"],
    ("n",): [0, -1, "2", 1.5, True],
    ("max_tokens",): [0, "10", -5, 1.5],
    ("stop",): [5, [5], {}, True],
    ("tool_choice",): [5, [], 1.5],
    ("seed",): ["1", 1.5],
    ("user",): [5, [], {}],
}


def _set(body: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    target: Any = body
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value


def _wrong_type(rng: random.Random) -> bytes:
    body = copy.deepcopy(VALID)
    path = rng.choice(sorted(WRONG, key=str))
    _set(body, path, rng.choice(WRONG[path]))
    return json.dumps(body).encode()


def _bad_json(rng: random.Random) -> bytes:
    valid = json.dumps(VALID).encode()
    kind = rng.randrange(6)
    if kind == 0:
        return valid[: rng.randrange(1, len(valid) - 1)]  # truncated
    if kind == 1:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))  # random bytes
    if kind == 2:
        return b"[" * rng.randrange(10_000, 60_000)  # nesting deep enough to exhaust the parser
    if kind == 3:
        return valid.replace(b'"hello"', b'"hel\xff\xfelo"')  # invalid UTF-8
    if kind == 4:
        return valid.replace(b"0.5", b"1" * rng.randrange(5_000, 20_000))  # an integer too long to convert
    return rng.choice([b"", b"null", b"5", b'"text"', b"[]", b"true", b"{", b"{}"])


def _hostile(rng: random.Random) -> bytes:
    body = copy.deepcopy(VALID)
    kind = rng.randrange(4)
    if kind == 0:
        body[f"x_{rng.randrange(10**6)}"] = rng.choice([1, "a", None, {}])  # unknown argument
    elif kind == 1:
        body["messages"][1]["content"] = "A" * (LIMIT + rng.randrange(1, 10_000))  # over the size limit
    elif kind == 2:
        body["temperature"] = float("nan")
    else:
        body["messages"] = [{"role": "user", "content": "x"}] * rng.randrange(1, 50) + [{"role": "user",
                                                                                            "content": 7}]
    return json.dumps(body).encode()


def _cases(rng: random.Random, agent: str, curator: str) -> list[tuple[dict[str, Any], bytes]]:
    valid = json.dumps(VALID).encode()
    auths = [{}, {"authorization": "Basic dXNlcjpwYXNz"}, {"authorization": "Bearer"},
             {"authorization": "Bearer l2s_zzzzzzzzzzzz_x"}, {"authorization": f"Bearer {agent}x"},
             {"authorization": f"Bearer {agent[:-3]}"}, {"authorization": f"Bearer {curator}"},
             {"authorization": "Bearer " + "A" * 5000}, {"authorization": "bearer l2s_\u00e9\u00e9\u00e9"}]
    cases = []
    for _ in range(CASES):
        kind = rng.randrange(4)
        if kind == 0:
            auth = rng.choice(auths)
            cases.append(({k: v.encode("utf-8") for k, v in auth.items()}, valid))
        else:
            body = (_bad_json, _wrong_type, _hostile)[kind - 1](rng)
            cases.append(({"authorization": f"Bearer {agent}"}, body))
    return cases


def test_a_thousand_hostile_requests_get_4xx_and_store_nothing(fake_upstream, store, keyring, agent_token):
    fake, upstream = fake_upstream
    curator = keyring.create("curation-job", Role.CURATOR)
    writer = RecordWriter(store)
    app = create_app(GatewayConfig(upstream_base_url=upstream, max_body_bytes=LIMIT), keyring, writer, "k")
    cases = _cases(random.Random(SEED), agent_token, curator)
    sent_before = len(fake.received)

    async def run() -> tuple[Counter, list[tuple[int, bytes]], int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            statuses, odd = Counter(), []
            for headers, body in cases:
                response = await client.post("/v1/chat/completions", content=body,
                                             headers={"content-type": "application/json", **headers})
                statuses[response.status_code] += 1
                if not 400 <= response.status_code < 500 or "message" not in response.json().get("error", {}):
                    odd.append((response.status_code, body[:80]))
            health = (await client.get("/healthz")).status_code
        return statuses, odd, health

    statuses, odd, health = asyncio.run(run())
    writer.close()
    assert sum(statuses.values()) == CASES >= 1000
    assert odd == []  # every answer a 4xx with an error message
    assert {400, 401, 403, 413} <= set(statuses)
    assert health == 200
    assert len(fake.received) == sent_before  # nothing reached the upstream
    assert stored(store) == [] and writer.counts.written == writer.counts.dropped == 0
