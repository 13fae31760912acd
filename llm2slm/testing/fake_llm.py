"""A deterministic fake of the OpenAI chat-completions API, for tests and benchmarks (no network, no model).

The answer depends only on the request body, so the same request always gets the same bytes back:
- with `tools` in the request, the answer calls the first tool with {"query": <last user message>};
  a last user message starting with "no tool" gets text instead;
- otherwise the answer is "echo: <last user message>";
- `stream: true` sends the answer as server-sent events in small pieces (tool-call argument deltas included),
  with a usage chunk when `stream_options.include_usage` is true, then `data: [DONE]`;
- model "fail-400" / "fail-500" answers with that HTTP status and an OpenAI-style error body.

Run it on its own with `python -m llm2slm.testing.fake_llm --port 9000`.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import threading
import time
from typing import Any, Callable

from llm2slm.common.schema import estimate_tokens, request_payload

CREATED = 1_700_000_000  # fixed `created` timestamp, seconds, so answers are byte-identical across runs
PIECE_CHARS = 8  # characters of content or arguments per streamed chunk

Send = Callable[[dict[str, Any]], Any]
Recorded = dict[str, "tuple[dict[str, Any], str, dict[str, int], str] | None"]  # key -> (message, finish, usage,
# model), or None: the LLM failed on that conversation when it was captured (the fake answers HTTP 500)


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return "".join(p.get("text", "") for p in content if isinstance(p, dict))
            return content if isinstance(content, str) else ""
    return ""


def _answer(body: dict[str, Any], digest: str) -> tuple[dict[str, Any], str]:
    """The assistant message and finish reason for a request."""
    text = _last_user_text(body)
    tools = body.get("tools") or []
    if tools and not text.lower().startswith("no tool"):
        name = tools[0].get("function", {}).get("name", "tool")
        call = {"id": f"call_{digest[:10]}", "type": "function",
                "function": {"name": name, "arguments": json.dumps({"query": text})}}
        return {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"
    return {"role": "assistant", "content": f"echo: {text}"}, "stop"


def _usage(body: dict[str, Any], message: dict[str, Any]) -> dict[str, int]:
    prompt = max(1, estimate_tokens(len(json.dumps(body.get("messages", [])))))
    answer = message.get("content") or json.dumps(message.get("tool_calls"))
    completion = max(1, estimate_tokens(len(answer)))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def conversation_key(messages: Any, tools: Any) -> str:
    """What identifies a request's conversation: the SHA-256 of its messages and tools as canonical JSON."""
    return hashlib.sha256(json.dumps([messages, tools or None], sort_keys=True).encode()).hexdigest()


def record_key(record: Any) -> str:
    """The conversation key of a call record's request (what its replayed request will have)."""
    payload = request_payload(record.messages, record.tools)
    return conversation_key(payload["messages"], payload["tools"])


def completion_body(body: dict[str, Any], raw: bytes, recorded: "Recorded | None" = None) -> dict[str, Any]:
    # the answer depends on the conversation only, so a streamed and a plain request get the same tool-call id
    digest = conversation_key(body.get("messages"), body.get("tools"))
    answer = recorded.get(digest) if recorded else None
    if answer is not None:
        message, finish, usage, model = answer
    else:
        message, finish = _answer(body, digest)
        usage, model = _usage(body, message), body.get("model", "fake")
    return {"id": f"chatcmpl-{hashlib.sha256(raw).hexdigest()[:16]}", "object": "chat.completion", "created": CREATED,
            "model": model, "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": usage}


def _pieces(text: str) -> list[str]:
    return [text[i:i + PIECE_CHARS] for i in range(0, len(text), PIECE_CHARS)] or [""]


def stream_chunks(body: dict[str, Any], raw: bytes, recorded: "Recorded | None" = None) -> list[dict[str, Any]]:
    """The chunks of a streamed answer, in order (without the final [DONE])."""
    full = completion_body(body, raw, recorded)
    message, finish = full["choices"][0]["message"], full["choices"][0]["finish_reason"]
    head = {"id": full["id"], "object": "chat.completion.chunk", "created": CREATED, "model": full["model"],
            "system_fingerprint": "fp_fake"}

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {**head, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}

    chunks = [chunk({"role": "assistant", "content": ""})]
    if message.get("tool_calls"):
        for index, call in enumerate(message["tool_calls"]):
            chunks.append(chunk({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                                 "function": {"name": call["function"]["name"], "arguments": ""}}]}))
            for piece in _pieces(call["function"]["arguments"]):
                chunks.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
    else:
        chunks.extend(chunk({"content": piece}) for piece in _pieces(message["content"]))
    chunks.append(chunk({}, finish))
    if (body.get("stream_options") or {}).get("include_usage"):
        chunks.append({**head, "choices": [], "usage": full["usage"]})
    return chunks


def _error_body(status: int) -> bytes:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return json.dumps({"error": {"message": f"fake upstream failure {status}", "type": kind,
                                 "param": None, "code": None}}).encode()


def recorded_answers(records: Any) -> "Recorded":
    """What a fake that replays a trace answers: per conversation key, each call's recorded LLM answer (message,
    finish reason, usage, model), so a replayed request gets the answer the LLM gave when it was captured."""
    answers: Recorded = {}
    for record in records:
        key = record_key(record)
        if record.status == "error":  # a failed call; a retry of the same conversation that succeeded wins
            answers.setdefault(key, None)
            continue
        answers[key] = (record.response.model_dump(mode="json", exclude_none=True), record.finish_reason,
                        record.usage.model_dump(), record.model)
    return answers


class FakeLLM:
    """An ASGI app; `received` holds the raw bodies it was sent (tests compare them with what the agent sent).
    With `recorded` (`recorded_answers`), a request whose conversation is recorded gets its recorded answer."""

    def __init__(self, delay_ms: float = 0.0, keep_bodies: bool = True, recorded: "Recorded | None" = None):
        self.recorded = recorded
        self.delay_s = delay_ms / 1000.0
        self.keep_bodies = keep_bodies
        self.received: list[bytes] = []
        self.received_headers: list[dict[str, str]] = []

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["method"] != "POST" or not scope["path"].endswith("/chat/completions"):
            await _respond(send, 404, b'{"error": {"message": "not found", "type": "invalid_request_error"}}')
            return
        raw = await _read_body(receive)
        if self.keep_bodies:
            self.received.append(raw)
            self.received_headers.append({k.decode(): v.decode() for k, v in scope["headers"]})
        try:
            body = json.loads(raw)
        except ValueError:
            await _respond(send, 400, _error_body(400))
            return
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        model = str(body.get("model", ""))
        if self.recorded is not None and self.recorded.get(conversation_key(body.get("messages"),
                                                                             body.get("tools")), 1) is None:
            await _respond(send, 500, _error_body(500))  # the LLM failed on this conversation when captured
        elif model.startswith("fail-"):
            status = int(model.split("-", 1)[1]) if model.split("-", 1)[1].isdigit() else 500
            await _respond(send, status, _error_body(status))
        elif body.get("stream"):
            await _stream(send, stream_chunks(body, raw, self.recorded))
        else:
            await _respond(send, 200, json.dumps(completion_body(body, raw, self.recorded)).encode())


async def _lifespan(receive: Callable, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _read_body(receive: Callable) -> bytes:
    parts = []
    while True:
        message = await receive()
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(parts)


async def _respond(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _stream(send: Send, chunks: list[dict[str, Any]]) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]})
    for item in chunks:
        await send({"type": "http.response.body", "body": b"data: " + json.dumps(item).encode() + b"\n\n",
                    "more_body": True})
    await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})


class ServerThread:
    """Serve an ASGI app with uvicorn on 127.0.0.1 in a background thread (tests, benchmarks)."""

    def __init__(self, app: Any, port: int, host: str = "127.0.0.1"):
        import uvicorn

        config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                                lifespan="on", timeout_keep_alive=30)
        self.server = uvicorn.Server(config)
        self.url = f"http://{host}:{port}"
        self.thread = threading.Thread(target=self.server.run, daemon=True, name=f"asgi-{port}")

    def start(self, timeout_s: float = 20.0) -> "ServerThread":
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"server on {self.url} did not start within {timeout_s} s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="A deterministic fake OpenAI-compatible chat-completions server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--delay-ms", type=float, default=0.0, help="added to every answer, milliseconds")
    args = parser.parse_args(argv)
    uvicorn.run(FakeLLM(args.delay_ms, keep_bodies=False), host=args.host, port=args.port, log_level="warning",
                access_log=False, timeout_keep_alive=75)


if __name__ == "__main__":
    main()
