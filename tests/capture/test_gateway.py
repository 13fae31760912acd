"""The gateway over real 127.0.0.1 HTTP: forwarding byte for byte, recording, errors, keys, limits, metrics."""

from __future__ import annotations

import json
import re

import httpx
import openai
import pytest

from llm2slm.capture.keys import Role
from llm2slm.capture.writer import RecordWriter
from tests.capture.conftest import TOOLS, running_gateway, stored

MESSAGES = [{"role": "system", "content": "You book tables."},
            {"role": "user", "content": "A table for four at 8pm, please."}]


def _auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", "content-type": "application/json"}


@pytest.fixture()
def writer(store):
    return RecordWriter(store, queue_size=1000, batch_size=64)  # closed by the gateway's shutdown


def test_answer_is_byte_identical_and_the_call_recorded(fake_upstream, store, writer, keyring, agent_token):
    fake, upstream = fake_upstream
    body = json.dumps({"model": "gpt-test", "messages": MESSAGES, "tools": TOOLS, "temperature": 0,
                       "user": "alice@example.org"}).encode()
    direct = httpx.post(f"{upstream}/chat/completions", content=body, headers=_auth("upstream-secret"))
    with running_gateway(writer, keyring, upstream) as gateway:
        through = httpx.post(f"{gateway}/v1/chat/completions", content=body,
                             headers={**_auth(agent_token), "traceparent": f"00-{'a' * 32}-{'b' * 16}-01",
                                      "x-session-id": "sess-9"})
        sdk = openai.OpenAI(base_url=f"{gateway}/v1", api_key=agent_token, max_retries=0)
        answer = sdk.chat.completions.create(model="gpt-test", messages=MESSAGES)
        direct_sdk = openai.OpenAI(base_url=upstream, api_key="x").chat.completions.create(model="gpt-test",
                                                                                          messages=MESSAGES)
    assert (through.status_code, through.content) == (direct.status_code, direct.content)
    assert fake.received[-4] == fake.received[-3] == body  # forwarded as received
    assert fake.received_headers[-3]["authorization"] == "Bearer upstream-secret"  # the agent's key stays here
    assert answer.model_dump_json() == direct_sdk.model_dump_json()

    first, second = stored(store)
    sent = json.loads(direct.content)
    assert [m.model_dump(exclude_none=True) for m in first.messages] == MESSAGES
    assert [t.model_dump(exclude_none=True) for t in first.tools] == TOOLS
    returned = {k: v for k, v in sent["choices"][0]["message"].items() if v is not None}
    assert first.response.model_dump(exclude_none=True) == returned
    assert first.usage.model_dump() == sent["usage"] and first.finish_reason == "tool_calls"
    assert (first.trace_id, first.parent_span_id) == ("a" * 32, "b" * 16) and first.span_id
    assert first.source.user and "alice" not in first.source.user and first.source.session
    assert second.response.content == "echo: " + MESSAGES[-1]["content"]


def test_stream_is_relayed_byte_for_byte_and_assembled(fake_upstream, store, writer, keyring, agent_token):
    _, upstream = fake_upstream
    body = json.dumps({"model": "gpt-test", "messages": MESSAGES, "tools": TOOLS, "stream": True,
                       "stream_options": {"include_usage": True}}).encode()
    with httpx.stream("POST", f"{upstream}/chat/completions", content=body, headers=_auth("k")) as response:
        direct = response.read()
    with running_gateway(writer, keyring, upstream) as gateway:
        with httpx.stream("POST", f"{gateway}/v1/chat/completions", content=body,
                          headers=_auth(agent_token)) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            through = response.read()
    assert through == direct and through.endswith(b"data: [DONE]\n\n")
    [record] = stored(store)
    events = [json.loads(line[6:]) for line in direct.decode().split("\n\n") if line.startswith("data: {")]
    arguments = "".join(e["choices"][0]["delta"].get("tool_calls", [{}])[0].get("function", {}).get("arguments", "")
                        for e in events if e["choices"])
    assert record.response.tool_calls[0].function.arguments == arguments
    assert record.response.tool_calls[0].function.name == "lookup_weather"
    assert record.usage.model_dump() == events[-1]["usage"] and record.finish_reason == "tool_calls"


@pytest.mark.parametrize("stream", [False, True])
def test_upstream_error_is_forwarded_unchanged_and_recorded(fake_upstream, store, writer, keyring, agent_token,
                                                            stream):
    _, upstream = fake_upstream
    body = json.dumps({"model": "fail-503", "messages": MESSAGES, "stream": stream}).encode()
    direct = httpx.post(f"{upstream}/chat/completions", content=body)
    with running_gateway(writer, keyring, upstream) as gateway:
        through = httpx.post(f"{gateway}/v1/chat/completions", content=body, headers=_auth(agent_token))
    assert (through.status_code, through.content) == (503, direct.content)
    [record] = stored(store)
    assert (record.status, record.finish_reason) == ("error", "error")
    assert record.error == "upstream HTTP 503: fake upstream failure 503"


def test_keys_size_limit_and_bad_bodies_are_refused_and_nothing_stored(fake_upstream, store, writer, keyring,
                                                                        agent_token):
    fake, upstream = fake_upstream
    curator = keyring.create("curation-job", Role.CURATOR)
    revoked = keyring.create("old-bot", Role.AGENT)
    keyring.revoke(revoked.split("_")[1])
    sent_before = len(fake.received)
    good = json.dumps({"model": "gpt-test", "messages": MESSAGES}).encode()
    cases = [
        ({}, good, 401, "missing API key"),
        (_auth("l2s_000000000000_nope"), good, 401, "unknown API key"),
        (_auth(revoked), good, 401, "revoked"),
        (_auth(curator), good, 403, "needs the agent role"),
        (_auth(agent_token), b'{"model": "gpt-test", "messages": [', 400, "malformed JSON"),
        (_auth(agent_token), b'["a list"]', 400, "must be a JSON object"),
        (_auth(agent_token), json.dumps({"model": "m", "messages": [{"role": "robot", "content": "x"}]}).encode(),
         400, "messages.0.role"),
        (_auth(agent_token), json.dumps({"model": "m", "messages": MESSAGES, "temprature": 1}).encode(), 400,
         "'temprature'"),
        (_auth(agent_token), json.dumps({"model": "m", "messages": MESSAGES, "pad": "x" * 5000}).encode(), 413,
         "exceeds the limit of 4096 bytes"),
    ]
    with running_gateway(writer, keyring, upstream, max_body_bytes=4096) as gateway:
        url = f"{gateway}/v1/chat/completions"
        for headers, body, status, words in cases:
            response = httpx.post(url, content=body, headers=headers)
            assert response.status_code == status, (body[:60], response.text)
            assert words in response.json()["error"]["message"]
        chunked = httpx.post(url, content=iter([b"{" + b" " * 3000, b" " * 3000 + b"}"]), headers=_auth(agent_token))
        assert chunked.status_code == 413  # no Content-Length: counted while read
        assert httpx.post(url, content=good, headers=_auth(agent_token)).status_code == 200  # still serving
    assert len(fake.received) == sent_before + 1
    assert len(stored(store)) == 1


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.M)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


def test_healthz_and_prometheus_metrics(fake_upstream, writer, keyring, agent_token):
    _, upstream = fake_upstream
    with running_gateway(writer, keyring, upstream) as gateway:
        assert httpx.get(f"{gateway}/healthz").json()["status"] == "ok"
        client = openai.OpenAI(base_url=f"{gateway}/v1", api_key=agent_token, max_retries=0)
        for _ in range(3):
            client.chat.completions.create(model="gpt-test", messages=MESSAGES)
        httpx.post(f"{gateway}/v1/chat/completions", content=b"{}", headers=_auth(agent_token))
        text = httpx.get(f"{gateway}/metrics").text
    assert _metric(text, 'llm2slm_gateway_requests_total{code="200"}') == 3
    assert _metric(text, 'llm2slm_gateway_requests_total{code="400"}') == 1
    assert _metric(text, "llm2slm_gateway_request_seconds_count") == 4
    assert _metric(text, "llm2slm_capture_records_written_total") == 3
    assert _metric(text, "llm2slm_capture_records_dropped_total") == 0


class _DownStore:
    def append(self, records):
        raise OSError("no space left on device")


@pytest.mark.parametrize("fail_open", [False, True])
def test_store_down_means_503_unless_failing_open(fake_upstream, keyring, agent_token, fail_open):
    _, upstream = fake_upstream
    writer = RecordWriter(_DownStore())
    body = {"model": "gpt-test", "messages": MESSAGES}
    with running_gateway(writer, keyring, upstream, fail_open=fail_open) as gateway:
        response = httpx.post(f"{gateway}/v1/chat/completions", json=body, headers=_auth(agent_token))
        streamed = httpx.post(f"{gateway}/v1/chat/completions", json=body | {"stream": True},
                              headers=_auth(agent_token))
        assert httpx.get(f"{gateway}/healthz").status_code == 200  # the writer survives store failures
    if fail_open:
        assert response.status_code == 200 and streamed.text.endswith("data: [DONE]\n\n")
    else:
        assert response.status_code == 503 and "could not be recorded" in response.json()["error"]["message"]
        assert "[DONE]" not in streamed.text and "could not be recorded" in streamed.text
    assert writer.counts.failed == 2


def test_unreachable_upstream_is_a_502_naming_it(store, writer, keyring, agent_token):
    from llm2slm.testing.fake_llm import free_port

    nowhere = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    with running_gateway(writer, keyring, nowhere) as gateway:
        response = httpx.post(f"{gateway}/v1/chat/completions", json={"model": "gpt-test", "messages": MESSAGES},
                              headers=_auth(agent_token))
    assert response.status_code == 502
    assert nowhere in response.json()["error"]["message"]
    [record] = stored(store)
    assert record.status == "error" and "did not answer" in record.error
