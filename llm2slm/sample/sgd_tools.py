"""A Schema-Guided Dialogue service's intents as OpenAI `tools`: one function per intent, its slots as parameters.

Every slot value in SGD is a string (dates `2019-03-01`, times `11:30`, counts `"2"`, flags `"True"`), so every
parameter is `type: string`; a categorical slot that lists its possible values gets them as an `enum`. Required
slots are the schema's `required`; optional ones are documented with their default where it is a real value (not
`dontcare`).
"""

from __future__ import annotations

from typing import Any

from llm2slm.common.schema import FunctionSpec, Tool

DONT_CARE = "dontcare"  # SGD's "no preference" default of an optional slot


def slot_index(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The service's slots by name."""
    return {slot["name"]: slot for slot in service["slots"]}


def slot_parameter(slot: dict[str, Any], default: str | None = None) -> dict[str, Any]:
    """One slot as a JSON Schema property: a string, with the schema's description and, if categorical, its enum."""
    description = slot["description"].rstrip(".")
    if default is not None and default != DONT_CARE:
        description += f" (default: {default})"
    prop: dict[str, Any] = {"type": "string", "description": description}
    if slot.get("is_categorical") and slot.get("possible_values"):
        prop["enum"] = list(slot["possible_values"])
    return prop


def intent_tool(intent: dict[str, Any], slots: dict[str, dict[str, Any]]) -> Tool:
    """One intent as a function: required slots first, then the optional ones, in the schema's order."""
    properties: dict[str, Any] = {name: slot_parameter(slots[name]) for name in intent["required_slots"]}
    for name, default in intent["optional_slots"].items():
        properties[name] = slot_parameter(slots[name], default)
    parameters: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if intent["required_slots"]:
        parameters["required"] = list(intent["required_slots"])
    return Tool(function=FunctionSpec(name=intent["name"], description=intent["description"], parameters=parameters))


def service_tools(service: dict[str, Any]) -> list[Tool]:
    """All intents of one service, in the schema's order."""
    slots = slot_index(service)
    return [intent_tool(intent, slots) for intent in service["intents"]]


def schema_by_service(schema: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The schema's entries by service name."""
    return {service["service_name"]: service for service in schema}
