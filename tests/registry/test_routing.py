"""Route modes on real registered models of an MLflow sqlite registry: tags, audit, refusals."""

from __future__ import annotations

import json

import pytest

from llm2slm.registry.routing import (
    MODE_TAG,
    SHARE_TAG,
    RegistryUnavailable,
    champion_llm_cost_per_call,
    check_route,
    open_registry,
    route_audit,
    route_setting,
    route_settings,
    set_route,
)
from llm2slm.registry.versions import RegistryError, register_version
from tests.mlflow_factories import log_fixed_model, gate_policy, tracking_uri

POLICY = gate_policy()
GOOD = {"agreement": 0.92, "latency_ms_p95": 20.0, "cost_per_1k_llm_usd": 0.42}
BAD = {"agreement": 0.40, "latency_ms_p95": 20.0}


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """One store for the module: task-01 has champion 1 and challenger 2; task-02 only a failed challenger;
    task-03 version 1, champion and challenger. Each test uses its own tasks or restores what it changed."""
    from mlflow import MlflowClient

    folder = tmp_path_factory.mktemp("registry")
    uri = tracking_uri(folder)
    model = log_fixed_model(folder)
    for task, metrics in (("task-01", GOOD), ("task-01", BAD), ("task-02", BAD), ("task-03", GOOD)):
        register_version(uri, f"llm2slm-{task}", task, model, "closed_label", metrics, {}, POLICY, by="ci")
    register_version(uri, "other-task-09", "task-09", model, "closed_label", GOOD, {}, POLICY, by="ci")
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _route_tags(client, name):
    tags = client.get_registered_model(name).tags
    return {k: v for k, v in tags.items() if k.startswith(("llm2slm.route.", "route_audit."))}


def test_absent_tags_read_off_with_the_aliases(registry):
    settings = route_settings(registry, "llm2slm")
    assert list(settings) == ["task-01", "task-02", "task-03"]  # other-task-09 has another prefix
    one = settings["task-01"]
    assert (one.name, one.mode, one.share, one.champion, one.challenger) == ("llm2slm-task-01", "off", 0.0, "1", "2")
    two = settings["task-02"]
    assert (two.mode, two.champion, two.challenger) == ("off", None, "1")
    assert route_setting(registry, "llm2slm-task-03").model_dump() == settings["task-03"].model_dump()


def test_set_route_round_trip_and_audit(registry):
    name = "llm2slm-task-01"
    shadow = set_route(registry, name, "shadow", None, by="rm-key", why="compare first")
    assert (shadow.mode, shadow.share, shadow.champion) == ("shadow", 0.0, "1")
    canary = set_route(registry, name, "canary", 0.1, by="rm-key", why="10% for a day")
    assert (canary.mode, canary.share) == ("canary", 0.1)
    assert _route_tags(registry, name)[MODE_TAG] == "canary" and _route_tags(registry, name)[SHARE_TAG] == "0.1"
    on = set_route(registry, name, "on", None, by="ops", why="agreement held")
    assert route_setting(registry, name).model_dump() == on.model_dump()
    assert (on.mode, on.share) == ("on", 1.0)
    events = route_audit(registry, name)
    assert [(e["seq"], e["by"], e["from"], e["to"], e["why"], e["champion"]) for e in events] == [
        (1, "rm-key", {"mode": "off", "share": 0.0}, {"mode": "shadow", "share": 0.0}, "compare first", "1"),
        (2, "rm-key", {"mode": "shadow", "share": 0.0}, {"mode": "canary", "share": 0.1}, "10% for a day", "1"),
        (3, "ops", {"mode": "canary", "share": 0.1}, {"mode": "on", "share": 1.0}, "agreement held", "1"),
    ]
    assert all(e["at"].endswith("+00:00") for e in events)
    assert json.loads(registry.get_registered_model(name).tags["route_audit.0002"])["to"]["share"] == 0.1
    set_route(registry, name, "off", 0, by="ops", why="restore")
    assert route_setting(registry, name).mode == "off"


def test_refusals_change_nothing(registry):
    before = {name: _route_tags(registry, name) for name in ("llm2slm-task-02", "llm2slm-task-03")}
    with pytest.raises(RegistryError, match="no registered model 'llm2slm-task-99'"):
        set_route(registry, "llm2slm-task-99", "on", None, by="rm")
    with pytest.raises(RegistryError, match="llm2slm-task-02 has no champion: mode shadow needs one"):
        set_route(registry, "llm2slm-task-02", "shadow", None, by="rm")
    with pytest.raises(RegistryError, match=r"share 1\.5: canary needs 0 < share < 1"):
        set_route(registry, "llm2slm-task-03", "canary", 1.5, by="rm")
    with pytest.raises(RegistryError, match="mode canary needs a share"):
        set_route(registry, "llm2slm-task-03", "canary", None, by="rm")
    with pytest.raises(RegistryError, match="unknown route mode 'full': expected one of off, shadow, canary, on"):
        set_route(registry, "llm2slm-task-03", "full", None, by="rm")
    with pytest.raises(RegistryError, match="mode on always serves a share of 1"):
        set_route(registry, "llm2slm-task-03", "on", 0.5, by="rm")
    assert {name: _route_tags(registry, name) for name in before} == before == {
        "llm2slm-task-02": {}, "llm2slm-task-03": {}}


def test_hand_edited_invalid_tags_read_as_off(registry):
    name = "llm2slm-task-03"
    registry.set_registered_model_tag(name, MODE_TAG, "canary")
    registry.set_registered_model_tag(name, SHARE_TAG, "lots")
    try:
        setting = route_setting(registry, name)
        assert (setting.mode, setting.share) == ("off", 0.0)
        assert "invalid route tags llm2slm.route.mode='canary' llm2slm.route.share='lots'" in setting.problem
    finally:
        registry.delete_registered_model_tag(name, MODE_TAG)
        registry.delete_registered_model_tag(name, SHARE_TAG)


def test_check_route_stores_the_share_each_mode_means():
    assert [check_route("off", None), check_route("shadow", 0), check_route("canary", 0.25),
            check_route("on", 1)] == [0.0, 0.0, 0.25, 1.0]
    for share in (0, 1, -0.1):
        with pytest.raises(RegistryError, match="canary needs 0 < share < 1"):
            check_route("canary", share)


def test_the_champion_evaluation_prices_a_call(registry):
    settings = route_settings(registry, "llm2slm")
    assert champion_llm_cost_per_call(registry, settings["task-01"]) == pytest.approx(0.42 / 1000)
    assert champion_llm_cost_per_call(registry, settings["task-02"]) is None  # no champion


def test_an_unreachable_registry_is_named(tmp_path):
    (tmp_path / "a-file").write_text("")
    uri = "sqlite:///" + str(tmp_path / "a-file" / "mlflow.db")  # its folder cannot be made
    with pytest.raises(RegistryUnavailable, match="cannot (open|read) the model registry: FileExistsError"):
        route_settings(open_registry(uri), "llm2slm")
