"""The gateway's router on real parts: champions from a real MLflow registry, a real MiniLM classifier, the real
gateway and store, the fake upstream on 127.0.0.1. Swap without restart, shadow, canary, registry down."""

from __future__ import annotations

import json
import math

import httpx
import pytest

from llm2slm.registry.routing import set_route
from llm2slm.registry.versions import registry_client
from llm2slm.serving.specialist import Specialist
from tests.serving.conftest import (LABELS, NAME, SLOT_SYSTEM, TOOLS, gateway_with, intent_request,
                                    make_router, wait_for)

pytestmark = pytest.mark.slow  # loads MiniLM specialists from the registry: ~20-40 s per module on 2 cores


def _post(url: str, token: str, body: dict) -> httpx.Response:
    return httpx.post(url + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {token}"},
                      timeout=60)


def _routes(url: str) -> dict:
    return httpx.get(url + "/healthz", timeout=10).json().get("routes", {})


def test_champion_answers_and_moving_it_swaps_the_version_without_a_restart(
        assigner, registry, tmp_path, store, keyring, agent_token, fake_upstream, specialist_dir):
    from tests.capture.conftest import stored

    client = registry_client(registry)
    set_route(client, NAME, "off", 0.0, by="test", why="start off")
    router = make_router(assigner, registry, tmp_path / "cache")
    with gateway_with(router, store, keyring, fake_upstream[1]) as url:
        before = _post(url, agent_token, intent_request("where is my new card?"))
        assert "x-llm2slm-route" not in before.headers  # no live route: the plain proxy path
        assert before.json()["choices"][0]["message"]["content"] == "echo: where is my new card?"

        set_route(client, NAME, "on", 1.0, by="test", why="serve")
        wait_for(lambda: _routes(url).get("task-00", {}).get("version") == "1", what="version 1 live")
        answered = _post(url, agent_token, intent_request("where is my new card?"))
        assert answered.headers["x-llm2slm-route"] == "specialist"
        assert answered.headers["x-llm2slm-model"] == f"{NAME}/1"
        expected = Specialist.load(specialist_dir).predict_rows([{"messages": intent_request(
            "where is my new card?")["messages"], "tools": None}])[0]
        assert answered.json()["choices"][0]["message"]["content"] == expected and expected in LABELS

        client.set_registered_model_alias(NAME, "champion", "2")
        wait_for(lambda: _routes(url).get("task-00", {}).get("version") == "2", what="version 2 live")
        swapped = _post(url, agent_token, intent_request("I lost my card"))
        assert swapped.headers["x-llm2slm-model"] == f"{NAME}/2"

        other = _post(url, agent_token, {"model": "m", "tools": TOOLS,
                                         "messages": [{"role": "system", "content": SLOT_SYSTEM},
                                                      {"role": "user", "content": "table for 2"}]})
        assert other.headers["x-llm2slm-route"] == "llm" and other.headers["x-llm2slm-task"] == "task-01"
    records = {r.last_user_message(): r for r in stored(store) if r.route is not None}
    routed = [r for r in stored(store) if r.route is not None and r.route.route == "specialist"]
    assert {r.route.version for r in routed} == {"1", "2"} and len(routed) == 2
    assert records["where is my new card?"].response.content == expected
    assert all(r.route.model == NAME and 0 <= r.route.confidence <= 1 and r.model.startswith(NAME) for r in routed)
    assert records["table for 2"].route.route == "llm" and records["table for 2"].route.task_id == "task-01"


def test_shadow_mode_never_changes_the_answer_and_records_agreement(
        assigner, registry, tmp_path, store, keyring, agent_token, fake_upstream):
    client = registry_client(registry)
    client.set_registered_model_alias(NAME, "champion", "1")
    set_route(client, NAME, "shadow", 0.0, by="test", why="watch")
    router = make_router(assigner, registry, tmp_path / "cache")
    texts = [f"card question number {i}" for i in range(6)]
    with gateway_with(router, store, keyring, fake_upstream[1]) as url:
        wait_for(lambda: _routes(url).get("task-00", {}).get("mode") == "shadow", what="shadow route")
        for text in texts:
            body = json.dumps(intent_request(text)).encode()
            through = httpx.post(url + "/v1/chat/completions", content=body, timeout=60,
                                 headers={"authorization": f"Bearer {agent_token}",
                                          "content-type": "application/json"})
            direct = httpx.post(fake_upstream[1] + "/chat/completions", content=body, timeout=60,
                                headers={"content-type": "application/json"})
            assert through.content == direct.content and through.headers["x-llm2slm-route"] == "llm"
        router.shadow_queue.join()
        wait_for(lambda: sum(v for (t, _), v in router.counts.shadow.items() if t == "task-00") == len(texts),
                 what="shadow comparisons")
    # the fake LLM answers "echo: ...", never a label: every comparison is a disagreement
    assert router.counts.shadow[("task-00", "disagree")] == len(texts)
    assert router.counts.calls[("task-00", "llm")] == len(texts)


def test_a_canary_share_holds_within_sampling_error(assigner, registry, tmp_path, store, keyring, agent_token,
                                                   fake_upstream):
    client = registry_client(registry)
    set_route(client, NAME, "canary", 0.3, by="test", why="canary")
    router = make_router(assigner, registry, tmp_path / "cache", seed=7)
    n = 300
    with gateway_with(router, store, keyring, fake_upstream[1]) as url:
        wait_for(lambda: _routes(url).get("task-00", {}).get("mode") == "canary", what="canary route")
        routes = [_post(url, agent_token, intent_request(f"card {i}")).headers["x-llm2slm-route"] for i in range(n)]
    share = routes.count("specialist") / n
    assert routes.count("specialist") + routes.count("llm") == n
    assert abs(share - 0.3) <= 3 * math.sqrt(0.3 * 0.7 / n), share  # 3 sigma: 0.22-0.38


def test_the_gateway_keeps_its_routes_and_serves_when_the_registry_is_down(
        assigner, registry, tmp_path, store, keyring, agent_token, fake_upstream, monkeypatch):
    from llm2slm.testing.fake_llm import free_port

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    client = registry_client(registry)
    set_route(client, NAME, "on", 1.0, by="test", why="serve")
    router = make_router(assigner, registry, tmp_path / "cache")
    with gateway_with(router, store, keyring, fake_upstream[1]) as url:
        wait_for(lambda: _routes(url).get("task-00", {}).get("mode") == "on", what="route on")
        router.table.tracking_uri = f"http://127.0.0.1:{free_port()}"  # the registry server is gone
        errors = router.table.errors
        wait_for(lambda: router.table.errors > errors, what="a failed refresh")
        answered = _post(url, agent_token, intent_request("is my card on its way?"))
        assert answered.status_code == 200 and answered.headers["x-llm2slm-route"] == "specialist"
        assert httpx.get(url + "/healthz", timeout=10).json()["status"] == "ok"
        metrics = httpx.get(url + "/metrics", timeout=10).text
    refresh_errors = next(line for line in metrics.splitlines() if line.startswith("llm2slm_route_refresh_errors"))
    assert float(refresh_errors.split()[-1]) >= 1
    assert router.table.last_error is not None and router.table.routes["task-00"].version == "1"
