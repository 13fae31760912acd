"""Tools -> the JSON Schema of a tool-call list (one branch per tool, properties sorted), and the checks of a
constrained generator's answers; a tool whose parameters are not a JSON Schema is a ValueError naming it."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from llm2slm.serving.grammar import answer_problem, checked_tools, sorted_schema, tool_call_schema, tools_key


def tool(name, parameters=None):
    function = {"name": name, "description": "d"}
    if parameters is not None:
        function["parameters"] = parameters
    return {"type": "function", "function": function}


FLIGHT = tool("SearchOnewayFlight", {
    "type": "object",
    "properties": {"origin": {"type": "string"}, "destination": {"type": "string"},
                   "seat": {"type": "string", "enum": ["economy", "business"]},
                   "passengers": {"type": ["integer", "null"]},
                   "stops": {"type": "array", "items": {"type": "object",
                                                        "properties": {"z": {"type": "string"}, "a": {"type": "integer"}}}}},
    "required": ["origin", "destination"], "additionalProperties": False})
PING = tool("ping")  # no parameters at all
TOOLS = [FLIGHT, PING]


def test_the_schema_has_one_branch_per_tool_with_the_name_first_and_sorted_properties():
    schema = tool_call_schema(TOOLS)
    Draft202012Validator.check_schema(schema)
    flight, ping = schema["items"]["anyOf"]
    assert list(flight["properties"]) == ["name", "arguments"] and flight["properties"]["name"] == {"const": FLIGHT["function"]["name"]}
    arguments = flight["properties"]["arguments"]
    assert list(arguments["properties"]) == ["destination", "origin", "passengers", "seat", "stops"]
    assert list(arguments["properties"]["stops"]["items"]["properties"]) == ["a", "z"]
    assert arguments["required"] == ["origin", "destination"] and arguments["additionalProperties"] is False
    assert ping["properties"]["arguments"] == {"type": "object", "properties": {}}
    assert schema["minItems"] == 1


def test_the_schema_accepts_valid_calls_and_rejects_others():
    validator = Draft202012Validator(tool_call_schema(TOOLS))
    good = [{"name": "SearchOnewayFlight", "arguments": {"origin": "BOS", "destination": "NYC", "passengers": None}},
            {"name": "ping", "arguments": {}}]
    assert not list(validator.iter_errors(good))
    for bad in ([], [{"name": "book", "arguments": {}}], [{"name": "SearchOnewayFlight", "arguments": {"origin": "B"}}],
                [{"name": "SearchOnewayFlight", "arguments": {"origin": "B", "destination": "C", "seat": "first"}}]):
        assert list(validator.iter_errors(bad)), bad


def test_sorting_leaves_everything_but_property_order_alone():
    schema = {"type": "object", "properties": {"b": {"anyOf": [{"type": "object", "properties": {"y": {}, "x": {}}}]},
                                               "a": {"type": "string"}}, "required": ["b"]}
    out = sorted_schema(schema)
    assert out == schema and list(out["properties"]) == ["a", "b"]
    assert list(out["properties"]["b"]["anyOf"][0]["properties"]) == ["x", "y"]


@pytest.mark.parametrize("parameters, message", [
    ({"type": "object", "properties": {"x": {"type": "strin"}}}, "tool 'broken': parameters are not a valid JSON Schema"),
    ({"type": "object", "required": "x"}, "tool 'broken': parameters are not a valid JSON Schema"),
    ({"type": "string"}, "tool 'broken': parameters must describe a JSON object"),
    ("object", "tool 'broken': parameters must be a JSON Schema object"),
])
def test_a_tool_whose_parameters_are_not_a_json_schema_is_a_value_error_naming_it(parameters, message):
    with pytest.raises(ValueError, match=message):
        tool_call_schema([PING, tool("broken", parameters)])


def test_duplicate_names_and_no_tools_are_errors():
    with pytest.raises(ValueError, match="offered twice"):
        checked_tools([PING, PING])
    with pytest.raises(ValueError, match="no tool"):
        tool_call_schema([])


def test_the_cache_key_is_the_same_for_the_same_tools_and_differs_otherwise():
    assert tools_key(json.loads(json.dumps(TOOLS))) == tools_key(TOOLS)
    assert tools_key([FLIGHT]) != tools_key(TOOLS) != tools_key([PING, FLIGHT])


def test_answer_problem_names_what_would_not_stand_in_for_the_llm():
    call = '[{"arguments": {"destination": "NYC", "origin": "BOS"}, "name": "SearchOnewayFlight"}]'
    assert answer_problem(call, "tools", TOOLS) is None
    assert answer_problem("Sure, which day?", "tools", TOOLS) is None
    assert answer_problem('[{"arguments": {}, "name": "book"}]', "tools", TOOLS) == "tool 'book' was not offered"
    assert "'destination' is a required property" in answer_problem('[{"arguments": {"origin": "B"}, "name": "SearchOnewayFlight"}]', "tools", TOOLS)
    assert answer_problem("[not json", "tools", TOOLS) == "starts like a tool-call list but is not one"
    assert answer_problem('{"a": 1}', "json", None) is None
    assert answer_problem("[1]", "json", None) == "not a JSON object"
