"""Bad tool input through the real curation stage: unusable tool specs and calls to tools not offered are dropped
with their reason and counted in the audit, never a crash."""

from __future__ import annotations

import pytest

from llm2slm.common.config import CurateConfig
from llm2slm.curation.filters import FailureFilter, tool_spec_problem
from llm2slm.curation.pipeline import curate_records
from tests.factories import make_record


def tool(name: str, parameters: dict) -> dict:
    return {"type": "function", "function": {"name": name, "parameters": parameters}}


CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER = tool("get_weather", CITY)
BAD_TYPE = tool("get_weather", {"type": "objekt", "properties": {"city": {"type": "string"}}})
BAD_PROPERTIES = tool("get_weather", {"type": "object", "properties": []})
DANGLING_REF = tool("get_weather", {"type": "object", "properties": {"city": {"$ref": "#/$defs/city"}}})
LOCAL_REF = tool("get_weather", {"type": "object", "properties": {"city": {"$ref": "#/$defs/city"}},
                                 "$defs": {"city": {"type": "string"}}})
OSLO = [{"name": "get_weather", "arguments": {"city": "Oslo"}}]
CONFIG = CurateConfig(policy={}, dedup="none")  # no scrubbing, no de-duplication: only the filters act


def test_unusable_tool_specs_and_calls_to_tools_not_offered_are_counted_in_the_audit():
    records = [
        make_record(1, "weather in Oslo?", tools=[WEATHER], tool_calls=OSLO),  # kept
        make_record(2, "weather?", answer="Which city?", tools=[BAD_TYPE]),  # spec: a text answer too
        make_record(3, "weather in Oslo?", tools=[BAD_PROPERTIES], tool_calls=OSLO),  # spec, before the call check
        make_record(4, "weather in Oslo?", tools=[DANGLING_REF], tool_calls=OSLO),  # spec: $ref to nothing
        make_record(5, "price of ACME?", tools=[WEATHER], tool_calls=[{"name": "get_stock", "arguments": {}}]),
        make_record(6, "weather in Oslo?", tools=[tool("get_time", {"type": "objekt"}), WEATHER], tool_calls=OSLO),
        make_record(7, "weather in Oslo?", tools=[LOCAL_REF], tool_calls=OSLO),  # kept: the $ref resolves
        make_record(8, "hello", answer="Hello! Which city?", tools=[WEATHER]),  # kept
    ]
    curated = curate_records(records, CONFIG)
    assert [r.id for r in curated.records] == ["call-000001", "call-000007", "call-000008"]
    assert curated.audit.n_in == 8 and curated.audit.n_out == 3
    assert curated.audit.removed == {"invalid_tool_call": 1, "invalid_tool_spec": 4}


def test_a_call_to_a_tool_the_request_did_not_offer_is_an_invalid_tool_call():
    records = [make_record(1, "price of ACME?", tools=[WEATHER], tool_calls=[{"name": "get_stock", "arguments": {}}]),
               make_record(2, "weather in Oslo?", tools=[WEATHER], tool_calls=OSLO)]
    curated = curate_records(records, CONFIG)
    assert curated.audit.removed == {"invalid_tool_call": 1} and [r.id for r in curated.records] == ["call-000002"]


def test_without_the_spec_reason_a_bad_spec_is_let_through_not_a_crash():
    check = FailureFilter([r for r in CONFIG.drop if r != "invalid_tool_spec"])
    records = [make_record(i, "weather in Oslo?", tools=[spec], tool_calls=OSLO)
               for i, spec in enumerate([BAD_TYPE, BAD_PROPERTIES, DANGLING_REF])]
    assert [check.reason(r) for r in records] == [None, None, None]  # its calls cannot be checked


@pytest.mark.parametrize(("parameters", "problem"), [
    (CITY, None),
    ({}, None),  # no parameters: any object
    (LOCAL_REF["function"]["parameters"], None),
    (BAD_TYPE["function"]["parameters"], "not a valid JSON Schema: 'objekt' is not valid under any of the given "
                                         "schemas"),
    (BAD_PROPERTIES["function"]["parameters"], "not a valid JSON Schema: [] is not of type 'object'"),
    (DANGLING_REF["function"]["parameters"], "$ref '#/$defs/city' does not resolve within the tool's schema"),
    ({"type": "object", "properties": {"a": {"$ref": "https://example.com/a.json"}}},
     "$ref 'https://example.com/a.json' does not resolve within the tool's schema"),
])
def test_tool_spec_problems_are_named(parameters, problem):
    assert tool_spec_problem(parameters) == problem
