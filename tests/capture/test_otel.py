"""OpenTelemetry GenAI spans (OTLP JSON: OpenLLMetry, OpenInference, semantic conventions 1.37) to call records."""

import json
from pathlib import Path

import pytest

from llm2slm.capture.crypto import MasterKey
from llm2slm.capture.imports import IngestError, detect_format
from llm2slm.capture.keys import Principal, Role
from llm2slm.capture.otel import parse_otlp_file
from llm2slm.capture.store import CallStore

FIXTURE = Path(__file__).parent / "fixtures" / "otlp_genai_trace.json"
CURATOR = Principal(key_id="000000000001", name="test-curator", role=Role.CURATOR)
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def by_span(records):
    return {r.span_id: r for r in records}


def test_llm_spans_become_call_records_with_trace_and_parent_ids_kept():
    records, skipped = parse_otlp_file(FIXTURE)
    assert skipped == 3  # the agent workflow, the tool and the chain spans
    spans = by_span(records)
    assert set(spans) == {"00f067aa0ba902b7", "c1d2e3f4a5b6c7d8", "e457b5a2e4d86bd1", "f0e1d2c3b4a59687"}
    first = spans["00f067aa0ba902b7"]
    assert (first.trace_id, first.parent_span_id) == (TRACE, "53995c3f42cd8ad8")
    assert first.id == f"otel-{TRACE}-00f067aa0ba902b7"
    assert first.model == "gpt-4o-2024-08-06" and first.latency_ms == pytest.approx(840.0)
    assert first.finish_reason == "tool_calls" and first.tool_names() == ["get_order_status"]
    assert json.loads(first.response.tool_calls[0].function.arguments) == {"order_id": "NW-20417"}
    assert (first.usage.prompt_tokens, first.usage.completion_tokens, first.usage.total_tokens) == (96, 19, 115)
    assert (first.source.agent, first.source.user, first.source.session) == (
        "order-agent", "customer-8812", "chat-2026-10-01-0007")
    assert first.timestamp.isoformat() == "2026-10-01T00:00:01+00:00"


def test_tool_results_openinference_and_failed_semconv_spans_are_read():
    spans = by_span(parse_otlp_file(FIXTURE)[0])
    second = spans["c1d2e3f4a5b6c7d8"]
    assert [m.role for m in second.messages] == ["system", "user", "assistant", "tool"]
    assert second.messages[3].tool_call_id == "call_a1" and "in transit" in second.answer_text()
    inference = spans["e457b5a2e4d86bd1"]
    assert inference.answer_text() == "billing" and inference.model == "gpt-4o-mini-2024-07-18"
    assert inference.source.agent == "ticket-triage" and inference.usage.total_tokens == 39
    failed = spans["f0e1d2c3b4a59687"]
    assert (failed.status, failed.finish_reason, failed.error) == ("error", "error", "upstream timeout after 30 s")
    assert failed.system_prompt() == "Write a one-line reply to the customer."
    assert failed.parent_span_id == "a2fb4a1d1a96d312" and failed.source.session == "ticket-5521"


def test_the_store_detects_otlp_and_imports_it_idempotently(tmp_path):
    assert detect_format(FIXTURE) == "otel"
    store = CallStore(tmp_path / "store", MasterKey.generate())
    report = store.ingest(FIXTURE)
    assert (report.format, report.read, report.stored, report.skipped_spans) == ("otel", 4, 4, 3)
    assert store.ingest(FIXTURE).already_stored == 4
    ids = {r.span_id for r in store.read(CURATOR)}
    assert "00f067aa0ba902b7" in ids and len(ids) == 4


def test_collector_file_exporter_lines_are_read(tmp_path):
    document = json.loads(FIXTURE.read_text())
    lines = tmp_path / "traces.jsonl"
    lines.write_text("".join(json.dumps({"resourceSpans": [rs]}) + "\n" for rs in document["resourceSpans"]))
    assert detect_format(lines) == "otel"
    assert len(parse_otlp_file(lines)[0]) == 4


def test_bad_spans_are_rejected_by_index_and_reason_and_nothing_is_stored(tmp_path):
    document = json.loads(FIXTURE.read_text())
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans[0]["traceId"] = "xyz"
    spans[1]["attributes"] = [a for a in spans[1]["attributes"] if not a["key"].startswith("gen_ai.completion")]
    inference = document["resourceSpans"][1]["scopeSpans"][0]["spans"][1]
    inference["attributes"] = [a for a in inference["attributes"] if not a["key"].startswith("llm.input_messages")]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document))
    store = CallStore(tmp_path / "store", MasterKey.generate())
    with pytest.raises(IngestError) as caught:
        store.ingest(bad, "otel")
    problems = dict(caught.value.problems)
    assert len(problems) == 3
    assert "traceId 'xyz'" in problems["span 0 (resourceSpans[0].scopeSpans[0].spans[0], name 'openai.chat')"]
    assert "no answer" in problems["span 1 (resourceSpans[0].scopeSpans[0].spans[1], name 'openai.chat')"]
    assert "content capture" in problems["span 5 (resourceSpans[1].scopeSpans[0].spans[1], name 'ChatCompletion')"]
    assert store.count() == 0 and not (tmp_path / "store" / "segments").exists()


def test_a_file_that_is_not_otlp_is_refused_when_otel_is_asked(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"spans": []}')
    with pytest.raises(IngestError, match="resourceSpans"):
        parse_otlp_file(path)
