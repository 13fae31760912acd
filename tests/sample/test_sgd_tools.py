"""SGD service schemas as OpenAI tools: valid JSON Schemas, required and optional slots, enums where categorical."""

from __future__ import annotations

import jsonschema

from llm2slm.sample.common import default_sources_dir
from llm2slm.sample.sgd import SERVICES, load_schema
from llm2slm.sample.sgd_tools import service_tools


def _tools() -> dict[str, dict]:
    schema = load_schema(default_sources_dir())
    return {s.name: {t.function.name: t for t in service_tools(schema[s.name])} for s in SERVICES.values()}


def test_every_tool_is_a_valid_object_schema() -> None:
    for service, tools in _tools().items():
        assert tools, service
        for tool in tools.values():
            params = tool.function.parameters
            jsonschema.Draft202012Validator.check_schema(params)
            assert params["type"] == "object" and params["additionalProperties"] is False
            assert set(params.get("required", [])) <= set(params["properties"])
            assert tool.function.description


def test_flight_search_slots_and_enums() -> None:
    search = _tools()["Flights_1"]["SearchOnewayFlight"].function
    assert search.description == "Search for one-way flights to a destination"
    params = search.parameters
    assert params["required"] == ["origin_city", "destination_city", "departure_date"]
    assert list(params["properties"]) == ["origin_city", "destination_city", "departure_date", "airlines",
                                          "refundable", "passengers", "seating_class"]
    assert params["properties"]["seating_class"]["enum"] == ["Economy", "Premium Economy", "Business", "First Class"]
    assert params["properties"]["seating_class"]["description"].endswith("(default: Economy)")
    assert "enum" not in params["properties"]["origin_city"]
    assert "default" not in params["properties"]["airlines"]["description"]  # SGD's default there is "dontcare"


def test_non_categorical_slot_with_listed_values_gets_no_enum() -> None:
    cuisine = _tools()["Restaurants_1"]["FindRestaurants"].function.parameters["properties"]["cuisine"]
    assert cuisine["type"] == "string" and "enum" not in cuisine


def test_intent_without_required_slots_has_no_required_list() -> None:
    lookup = _tools()["Music_2"]["LookupMusic"].function.parameters
    assert "required" not in lookup and set(lookup["properties"]) == {"genre", "artist", "album"}
    jsonschema.validate({}, lookup)
