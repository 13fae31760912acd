import json

import pytest
from pydantic import ValidationError

from llm2slm.common.schema import CallRecord, json_schema
from tests.factories import make_record


def test_record_round_trips_through_json():
    record = make_record(1, "hello", answer='{"intent": "greeting"}')
    again = CallRecord.model_validate_json(record.model_dump_json())
    assert again == record
    assert again.answer_text() == '{"intent": "greeting"}'


def test_tool_calls_become_canonical_text():
    record = make_record(2, "weather in Paris?", tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}],
                         tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {}}}])
    assert json.loads(record.answer_text()) == [{"name": "get_weather", "arguments": {"city": "Paris"}}]


def test_unknown_fields_and_wrong_roles_are_rejected():
    data = json.loads(make_record(3, "x").model_dump_json())
    with pytest.raises(ValidationError, match="extra"):
        CallRecord.model_validate({**data, "task_kind": "secret"})
    with pytest.raises(ValidationError, match="assistant"):
        CallRecord.model_validate({**data, "response": {"role": "user", "content": "x"}})
    with pytest.raises(ValidationError, match="schema_version"):
        CallRecord.model_validate({**data, "schema_version": "2.0"})


def test_json_schema_names_the_record_and_its_version():
    schema = json_schema()
    assert schema["title"] == "CallRecord"
    assert "messages" in schema["required"] and "response" in schema["required"]


def test_committed_schema_document_is_current(repo_root):
    committed = json.loads((repo_root / "docs" / "call_record.schema.json").read_text())
    assert committed == json.loads(json.dumps(json_schema(), sort_keys=True))
