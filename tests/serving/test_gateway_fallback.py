"""A specialist that fails, is too slow, answers off its set or is not confident hands the call to the LLM;
a streamed specialist answer, tool calls included, parses with the real `openai` client."""

from __future__ import annotations

import json

import httpx
import pytest

from llm2slm.registry.routing import set_route
from llm2slm.registry.versions import SHAPE_TAG, registry_client
from llm2slm.serving.routes import load_registered
from llm2slm.testing.specialists import FaultySpecialist
from tests.serving.conftest import (LABELS, NAME, SLOT_SYSTEM, TOOLS, gateway_with, intent_request,
                                    make_router, wait_for)

pytestmark = pytest.mark.slow  # loads MiniLM specialists from the registry

TOOL_MODEL = "llm2slm-task-01"


def faulty(fault: str | None, **options):
    def load(uri: str, name: str, version: str, cache):
        return FaultySpecialist(load_registered(uri, name, version, cache), fault, **options)
    return load


def _post(url: str, token: str, body: dict) -> httpx.Response:
    return httpx.post(url + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {token}"},
                      timeout=60)


def _live(url: str, task: str = "task-00") -> bool:
    return "version" in httpx.get(url + "/healthz", timeout=10).json().get("routes", {}).get(task, {})


@pytest.mark.parametrize("fault,options,reason", [
    ("raise", {}, "error"),
    ("slow", {"delay_s": 1.5}, "timeout"),
    ("answer", {"answer": "refund_request", "confidence": 0.99}, "invalid_label"),
])
def test_a_failing_specialist_falls_back_to_the_llm_and_is_counted(
        fault, options, reason, assigner, registry, tmp_path, store, keyring, agent_token, fake_upstream):
    set_route(registry_client(registry), NAME, "on", 1.0, by="test", why="serve")
    router = make_router(assigner, registry, tmp_path / "cache", loader=faulty(fault, **options), budget_s=0.3)
    with gateway_with(router, store, keyring, fake_upstream[1]) as url:
        wait_for(lambda: _live(url), what="route live")
        response = _post(url, agent_token, intent_request("my card never came"))
        metrics = httpx.get(url + "/metrics", timeout=10).text
    assert response.status_code == 200 and response.headers["x-llm2slm-route"] == "fallback"
    assert response.json()["choices"][0]["message"]["content"] == "echo: my card never came"  # the LLM's answer
    assert dict(router.counts.fallbacks) == {("task-00", reason): 1}
    assert f'llm2slm_route_fallbacks_total{{reason="{reason}",task="task-00"}} 1.0' in metrics


def test_a_call_below_the_calibrated_threshold_goes_to_the_llm_not_counted_as_a_fallback(
        assigner, registry, tmp_path, store, keyring, agent_token, fake_upstream):
    set_route(registry_client(registry), NAME, "on", 1.0, by="test", why="serve")
    loader = faulty("answer", answer=LABELS[0], confidence=0.2)  # a valid label, at low confidence
    router = make_router(assigner, registry, tmp_path / "cache", loader=loader)
    client = registry_client(registry)
    client.set_model_version_tag(NAME, "1", "llm2slm.route.threshold", "0.5")
    try:
        client.set_registered_model_alias(NAME, "champion", "1")
        with gateway_with(router, store, keyring, fake_upstream[1]) as url:
            wait_for(lambda: _live(url), what="route live")
            response = _post(url, agent_token, intent_request("card question"))
    finally:
        client.set_model_version_tag(NAME, "1", "llm2slm.route.threshold", "0")
    assert response.headers["x-llm2slm-route"] == "llm"
    assert not router.counts.fallbacks and router.counts.calls[("task-00", "llm")] == 1


@pytest.fixture(scope="module")
def tool_registry(registry):
    """task-01 registered as a tool-calling specialist (its answers come from the test's loader)."""
    from mlflow import MlflowClient

    client = registry_client(registry)
    source = client.get_model_version(NAME, "1")
    client.create_registered_model(TOOL_MODEL, tags={"llm2slm.task_id": "task-01"})
    MlflowClient(registry).create_model_version(TOOL_MODEL, source.source, tags={
        SHAPE_TAG: "tool_call", "llm2slm.route.threshold": "0"}, model_id=getattr(source, "model_id", None))
    client.set_registered_model_alias(TOOL_MODEL, "champion", "1")
    set_route(client, TOOL_MODEL, "on", 1.0, by="test", why="serve")
    return registry


def test_streamed_specialist_answers_parse_with_the_openai_client(
        assigner, tool_registry, tmp_path, store, keyring, agent_token, fake_upstream):
    import openai

    call = [{"name": "book_table", "arguments": {"people": 4}}]
    loader = faulty("answer", answer=json.dumps(call), confidence=0.9)
    router = make_router(assigner, tool_registry, tmp_path / "cache", loader=loader)
    with gateway_with(router, store, keyring, fake_upstream[1]) as url:
        wait_for(lambda: _live(url, "task-01"), what="tool route live")
        agent = openai.OpenAI(base_url=url + "/v1", api_key=agent_token, max_retries=0)
        stream = agent.chat.completions.create(
            model="gpt-4o-mini", stream=True, tools=TOOLS, stream_options={"include_usage": True},
            messages=[{"role": "system", "content": SLOT_SYSTEM}, {"role": "user", "content": "a table for 4"}])
        names, arguments, finish, usage = [], "", None, None
        for chunk in stream:
            usage = chunk.usage or usage
            for choice in chunk.choices:
                for delta in choice.delta.tool_calls or []:
                    names += [delta.function.name] if delta.function and delta.function.name else []
                    arguments += (delta.function.arguments or "") if delta.function else ""
                finish = choice.finish_reason or finish
        whole = agent.chat.completions.create(
            model="gpt-4o-mini", tools=TOOLS,
            messages=[{"role": "system", "content": SLOT_SYSTEM}, {"role": "user", "content": "a table for 4"}])
    assert names == ["book_table"] and json.loads(arguments) == {"people": 4} and finish == "tool_calls"
    assert usage is not None and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    message = whole.choices[0].message
    assert whole.choices[0].finish_reason == "tool_calls" and message.tool_calls[0].function.name == "book_table"
    assert json.loads(message.tool_calls[0].function.arguments) == {"people": 4}
