"""The SDK: a real openai client (sync and async, streamed and not) against the fake upstream over 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator

import openai
import pytest

from llm2slm.capture import capture_counts, instrument, record_call
from llm2slm.capture.writer import RecordWriter
from tests.capture.conftest import TOOLS, stored

MESSAGES = [{"role": "system", "content": "You answer weather questions."},
            {"role": "user", "content": "What is the weather in Lyon tomorrow?"}]


@pytest.fixture()
def writer(store) -> Iterator[RecordWriter]:
    record_writer = RecordWriter(store, queue_size=100, batch_size=16)
    yield record_writer
    record_writer.close()


def _pair(base_url: str, writer: RecordWriter, cls=openai.OpenAI):
    plain = cls(base_url=base_url, api_key="upstream-key", max_retries=0)
    captured = instrument(cls(base_url=base_url, api_key="upstream-key", max_retries=0), writer=writer,
                          agent="support-bot", session="session-42")
    return plain, captured


def _message_dicts(message) -> dict:
    return json.loads(message.model_dump_json(exclude_none=True))


@pytest.mark.parametrize("tools", [None, TOOLS], ids=["text", "tool-call"])
def test_sync_call_is_recorded_and_result_unchanged(fake_upstream, writer, store, tools):
    fake, base_url = fake_upstream
    plain, captured = _pair(base_url, writer)
    extra = {"tools": tools} if tools else {}
    direct = plain.chat.completions.create(model="gpt-test", messages=MESSAGES, temperature=0, **extra)
    through = captured.chat.completions.create(model="gpt-test", messages=MESSAGES, temperature=0, **extra)

    assert type(through) is type(direct)
    assert through.model_dump_json() == direct.model_dump_json()
    assert fake.received[-1] == fake.received[-2]  # the request went out byte for byte the same
    assert writer.flush()
    [record] = stored(store)
    assert [_message_dicts(m) for m in record.messages] == MESSAGES
    assert ([t.model_dump(exclude_none=True) for t in record.tools] if record.tools else None) == tools
    assert _message_dicts(record.response) == direct.choices[0].message.model_dump(exclude_none=True)
    assert record.finish_reason == direct.choices[0].finish_reason
    assert record.usage.model_dump() == direct.usage.model_dump(include={"prompt_tokens", "completion_tokens",
                                                                         "total_tokens"})
    assert record.model == "gpt-test" and record.status == "ok" and record.latency_ms > 0
    assert record.source.session and record.source.session != "session-42"  # pseudonymised by the store


def test_sync_stream_is_assembled_with_tool_call_deltas_and_usage(fake_upstream, writer, store):
    _, base_url = fake_upstream
    plain, captured = _pair(base_url, writer)
    kwargs = dict(model="gpt-test", messages=MESSAGES, tools=TOOLS, stream=True,
                  stream_options={"include_usage": True})
    direct = [c.model_dump_json() for c in plain.chat.completions.create(**kwargs)]
    stream = captured.chat.completions.create(**kwargs)
    assert isinstance(stream, openai.Stream)
    through = [c.model_dump_json() for c in stream]
    assert through == direct and len(direct) > 4

    whole = plain.chat.completions.create(model="gpt-test", messages=MESSAGES, tools=TOOLS)
    assert writer.flush()
    [record] = stored(store)
    assert _message_dicts(record.response) == whole.choices[0].message.model_dump(exclude_none=True)
    assert record.response.tool_calls[0].function.arguments == json.dumps({"query": MESSAGES[-1]["content"]})
    assert record.finish_reason == "tool_calls"
    assert record.usage.total_tokens == json.loads(direct[-1])["usage"]["total_tokens"]


def test_async_calls_streamed_and_not_are_recorded(fake_upstream, writer, store):
    _, base_url = fake_upstream
    plain, captured = _pair(base_url, writer, openai.AsyncOpenAI)

    async def run() -> tuple[list[str], list[str]]:
        results = []
        for client in (plain, captured):
            whole = await client.chat.completions.create(model="gpt-test", messages=MESSAGES)
            stream = await client.chat.completions.create(model="gpt-test", messages=MESSAGES, stream=True)
            results.append([whole.model_dump_json()] + [c.model_dump_json() async for c in stream])
        return results[0], results[1]

    direct, through = asyncio.run(run())
    assert through == direct
    assert writer.flush()
    records = stored(store)
    assert [r.response.content for r in records] == ["echo: " + MESSAGES[-1]["content"]] * 2
    assert all(r.usage.total_tokens > 0 for r in records)  # the stream sent no usage: estimated


def test_upstream_error_is_raised_unchanged_and_recorded(fake_upstream, writer, store):
    _, base_url = fake_upstream
    plain, captured = _pair(base_url, writer)
    errors = []
    for client in (plain, captured):
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(model="fail-400", messages=MESSAGES)
        errors.append((caught.value.status_code, caught.value.message, caught.value.body))
    assert errors[0] == errors[1]
    assert writer.flush()
    [record] = stored(store)
    assert record.status == "error" and record.finish_reason == "error"
    assert record.error == "upstream HTTP 400: fake upstream failure 400"


class _DownStore:
    def append(self, records):
        raise OSError("disk unavailable")


class _SlowStore:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.records: list = []

    def append(self, records):
        self.release.wait(timeout=30)
        self.records.extend(records)


def test_store_down_or_queue_full_never_reaches_the_agent(fake_upstream):
    _, base_url = fake_upstream
    down = RecordWriter(_DownStore(), queue_size=10, batch_size=4)
    plain, captured = _pair(base_url, down)
    answer = captured.chat.completions.create(model="gpt-test", messages=MESSAGES)
    assert answer.model_dump_json() == plain.chat.completions.create(model="gpt-test",
                                                                     messages=MESSAGES).model_dump_json()
    assert down.flush()
    assert capture_counts(down).failed == 1 and capture_counts(down).written == 0
    down.close()

    slow_store = _SlowStore()
    full = RecordWriter(slow_store, queue_size=1, batch_size=1)
    _, captured = _pair(base_url, full)
    started = time.perf_counter()
    for _ in range(6):
        captured.chat.completions.create(model="gpt-test", messages=MESSAGES)
    assert time.perf_counter() - started < 10  # the calls did not wait for the blocked store
    assert full.counts.dropped >= 4  # one record in the blocked append, one queued, the rest dropped
    slow_store.release.set()
    assert full.flush()
    assert len(slow_store.records) + full.counts.dropped == 6
    full.close()


def test_record_call_for_other_frameworks(writer, store):
    request = {"model": "claude-test", "messages": MESSAGES, "temperature": 0.2}
    response = {"id": "x", "model": "claude-test-1", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Sunny."}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 2, "total_tokens": 22}}
    assert record_call(request, response, latency_ms=12.5, agent="langchain-bot", writer=writer)
    assert record_call(request, None, latency_ms=3.0, error="timeout after 30 s", writer=writer)
    assert not record_call({"model": "m", "messages": []}, response, latency_ms=1.0, writer=writer)
    assert writer.counts.build_failed == 1
    assert writer.flush()
    ok, failed = stored(store)
    assert (ok.model, ok.response.content, ok.usage.total_tokens, ok.latency_ms) == ("claude-test-1", "Sunny.",
                                                                                    22, 12.5)
    assert (failed.status, failed.error) == ("error", "timeout after 30 s")


def test_instrumenting_twice_records_each_call_once(fake_upstream, writer, store):
    _, base_url = fake_upstream
    client = openai.OpenAI(base_url=base_url, api_key="k", max_retries=0)
    assert instrument(instrument(client, writer=writer), writer=writer) is client
    client.chat.completions.create(model="gpt-test", messages=MESSAGES)
    assert writer.flush()
    assert len(stored(store)) == 1


def test_a_store_that_cannot_open_never_reaches_the_agent(fake_upstream, tmp_path, monkeypatch):
    from llm2slm.capture import sdk

    _, base_url = fake_upstream
    (tmp_path / "params.yaml").write_text("capture:\n  local_keys: false\n")  # and no master key anywhere
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LLM2SLM_MASTER_KEY", raising=False)
    monkeypatch.setattr(sdk, "_default_writer", None)
    client = instrument(openai.OpenAI(base_url=base_url, api_key="k", max_retries=0))  # the default writer
    answer = client.chat.completions.create(model="gpt-test", messages=MESSAGES)
    assert answer.choices[0].message.content == "echo: " + MESSAGES[-1]["content"]
    writer = sdk.default_writer()
    assert writer.flush() and capture_counts(writer).failed == 1
    writer.close()
