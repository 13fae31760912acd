"""Capture inside the agent's process: `instrument(client)` for an openai client, `record_call` for anything else.

`instrument` replaces `client.chat.completions.create` on that client object only. The wrapper calls the original
with the same arguments and returns its result object itself (a ChatCompletion, or the very Stream / AsyncStream
whose chunks are observed as the agent reads them), so the agent's code and results do not change. Building the
record and handing it to the background writer are guarded: a capture problem is counted, logged at most every
few seconds, and never raised into the agent. Calls made through `with_raw_response` / `with_streaming_response`
are not captured.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from llm2slm.capture.records import (CallContext, ParsedRequest, StreamAssembler, build_record, error_text,
                                     parse_request)
from llm2slm.capture.writer import RecordWriter, WriterCounts
from llm2slm.common.schema import Source

log = logging.getLogger("llm2slm.capture")
_REQUEST_KEYS = ("model", "messages", "tools", "stream", "user")
_default_writer: RecordWriter | None = None
_default_lock = threading.Lock()


# ---- the writer the SDK uses when none is given ----
def configure(writer: RecordWriter | None = None, store: Any = None, queue_size: int = 10000,
              batch_size: int = 256) -> RecordWriter:
    """Set the process's capture writer: the given one, or a new one on `store`."""
    global _default_writer
    with _default_lock:
        if writer is None:
            writer = RecordWriter(store, queue_size, batch_size) if store is not None else _writer_from_config()
        _default_writer = writer
    return writer


def default_writer() -> RecordWriter:
    """The process's capture writer, opened from the project's configuration on first use."""
    global _default_writer
    with _default_lock:
        if _default_writer is None:
            _default_writer = _writer_from_config()
        return _default_writer


class _StoreUnavailable:
    """Stands in for a store that could not be opened: every batch fails (and is counted), the agent goes on."""

    def __init__(self, problem: str):
        self.problem = problem

    def append(self, records: Any) -> None:
        raise RuntimeError(self.problem)


def _writer_from_config() -> RecordWriter:
    from llm2slm.common.config import load_config
    from llm2slm.capture import open_store

    try:
        cfg = load_config()
        store: Any = open_store(cfg)
        sizes = (cfg.gateway.queue_size, cfg.gateway.batch_size, cfg.gateway.commit_linger_ms)
    except Exception as exc:  # noqa: BLE001 - a missing key or config must not break the agent
        log.error("capture is off: the call store could not be opened: %s", exc)
        store, sizes = _StoreUnavailable(f"the call store could not be opened: {exc}"), (1, 1, 0.0)
    writer = RecordWriter(store, *sizes)
    atexit.register(writer.close)
    return writer


def capture_counts(writer: RecordWriter | None = None) -> WriterCounts:
    """Records written, dropped (queue full or closed), failed (store error) and not built, so far."""
    return (writer or default_writer()).counts


# ---- turning a call into a record, guarded ----
def _plain(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", exclude_none=True)
    return value


def _given(value: Any) -> bool:
    return type(value).__name__ not in ("NotGiven", "Omit")


class _Recorder:
    """Builds and queues the records of one instrumented client's calls."""

    def __init__(self, writer: RecordWriter | None, agent: str, user: str | None, session: str | None):
        self._writer = writer
        self.agent, self.user, self.session = agent, user, session

    @property
    def writer(self) -> RecordWriter:
        return self._writer or default_writer()

    def begin(self, kwargs: dict[str, Any]) -> tuple[ParsedRequest | None, CallContext | None, float]:
        started = time.perf_counter()
        try:
            request = {k: _plain_list(kwargs[k]) for k in _REQUEST_KEYS if k in kwargs and _given(kwargs[k])}
            parsed = parse_request(request, extra_keys=frozenset(_REQUEST_KEYS))
            # raw ids: the store replaces them with keyed pseudonyms before anything is written
            source = Source(agent=self.agent, user=parsed.user or self.user, session=self.session)
            return parsed, CallContext(source=source), started
        except Exception as exc:  # noqa: BLE001 - capture never breaks the agent
            self.writer.note_build_failure(exc)
            return None, None, started

    def finish(self, parsed: ParsedRequest | None, context: CallContext | None, started: float,
               answer: dict[str, Any] | None, error: str | None = None) -> None:
        if parsed is None or context is None:
            return
        try:
            latency_ms = (time.perf_counter() - started) * 1000.0
            self.writer.submit(build_record(parsed, answer, latency_ms, context, error))
        except Exception as exc:  # noqa: BLE001 - capture never breaks the agent
            self.writer.note_build_failure(exc)


def _plain_list(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return _plain(value)


def _failure_text(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    status = getattr(exc, "status_code", None)
    if response is not None and status is not None:
        try:
            return error_text(int(status), response.text)
        except Exception:  # noqa: BLE001 - the body may be unreadable (a streamed error)
            pass
    return f"{type(exc).__name__}: {exc}"[:500]


def _tap_sync(iterator: Iterator[Any], done: Callable[[dict[str, Any] | None, str | None], None]) -> Iterator[Any]:
    assembler = StreamAssembler()
    try:
        for chunk in iterator:
            _safe_add(assembler, chunk)
            yield chunk
    except GeneratorExit:
        raise  # the agent stopped reading: a partial answer is not recorded
    except Exception as exc:
        done(None, _failure_text(exc))
        raise
    done(assembler.answer(), None)


async def _tap_async(iterator: AsyncIterator[Any],
                     done: Callable[[dict[str, Any] | None, str | None], None]) -> AsyncIterator[Any]:
    assembler = StreamAssembler()
    try:
        async for chunk in iterator:
            _safe_add(assembler, chunk)
            yield chunk
    except GeneratorExit:
        raise
    except Exception as exc:
        done(None, _failure_text(exc))
        raise
    done(assembler.answer(), None)


def _safe_add(assembler: StreamAssembler, chunk: Any) -> None:
    try:
        assembler.add(_plain(chunk))
    except Exception:  # noqa: BLE001 - a chunk we cannot read must not stop the stream
        pass


# ---- the public entry points ----
def instrument(client: Any, *, agent: str = "agent", writer: RecordWriter | None = None, user: str | None = None,
               session: str | None = None) -> Any:
    """Record every `client.chat.completions.create` call of this openai client (sync or async); returns it."""
    completions = client.chat.completions
    original = completions.create
    if getattr(original, "__llm2slm_wrapped__", False):
        return client
    recorder = _Recorder(writer, agent, user, session)
    from openai import AsyncOpenAI

    wrapper = _async_create(original, recorder) if isinstance(client, AsyncOpenAI) else _sync_create(original,
                                                                                                   recorder)
    wrapper.__llm2slm_wrapped__ = True  # type: ignore[attr-defined]
    wrapper.__wrapped__ = original  # type: ignore[attr-defined]
    completions.create = wrapper
    return client


def _sync_create(original: Callable[..., Any], recorder: _Recorder) -> Callable[..., Any]:
    def create(*args: Any, **kwargs: Any) -> Any:
        parsed, context, started = recorder.begin(kwargs)
        try:
            result = original(*args, **kwargs)
        except Exception as exc:
            recorder.finish(parsed, context, started, None, _failure_text(exc))
            raise
        if kwargs.get("stream") is True and hasattr(result, "_iterator"):
            result._iterator = _tap_sync(result._iterator, lambda answer, error: recorder.finish(
                parsed, context, started, answer, error))
        else:
            recorder.finish(parsed, context, started, _answer_dict(result))
        return result

    return create


def _async_create(original: Callable[..., Any], recorder: _Recorder) -> Callable[..., Any]:
    async def create(*args: Any, **kwargs: Any) -> Any:
        parsed, context, started = recorder.begin(kwargs)
        try:
            result = await original(*args, **kwargs)
        except Exception as exc:
            recorder.finish(parsed, context, started, None, _failure_text(exc))
            raise
        if kwargs.get("stream") is True and hasattr(result, "_iterator"):
            result._iterator = _tap_async(result._iterator, lambda answer, error: recorder.finish(
                parsed, context, started, answer, error))
        else:
            recorder.finish(parsed, context, started, _answer_dict(result))
        return result

    return create


def _answer_dict(result: Any) -> dict[str, Any] | None:
    try:
        answer = _plain(result)
        return answer if isinstance(answer, dict) else None
    except Exception:  # noqa: BLE001
        return None


def record_call(request: dict[str, Any], response: Any, *, latency_ms: float, agent: str = "agent",
                error: str | None = None, user: str | None = None, session: str | None = None,
                trace_id: str | None = None, span_id: str | None = None, parent_span_id: str | None = None,
                writer: RecordWriter | None = None) -> bool:
    """Record one call made by any framework: an OpenAI-shaped request and chat.completion answer (dict or
    object), or `response=None` with `error` for a failed call. Returns whether the record was queued; never
    raises."""
    target = writer or default_writer()
    try:
        request = {k: _plain_list(v) for k, v in request.items() if k in _REQUEST_KEYS}
        parsed = parse_request(request, extra_keys=frozenset(_REQUEST_KEYS))
        source = Source(agent=agent, user=parsed.user or user, session=session)
        context = CallContext(source=source, trace_id=trace_id, span_id=span_id, parent_span_id=parent_span_id)
        answer = None if response is None else _answer_dict(response)
        if answer is None and error is None:
            error = "the call returned no answer"
        return target.submit(build_record(parsed, answer, latency_ms, context, error))
    except Exception as exc:  # noqa: BLE001 - capture never breaks the caller
        target.note_build_failure(exc)
        return False
