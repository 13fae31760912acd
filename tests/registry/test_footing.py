"""The promotion gate on equal footing, on a real MLflow sqlite registry: the champion's figure re-evaluated on the
challenger's test calls replaces the one on its tags (measured on an older test split), and the audit trail says
which figure the gate read."""

from __future__ import annotations

import json

import pytest

from llm2slm.evaluation.champion import ChampionFigures
from llm2slm.registry.footing import champion_basis
from llm2slm.registry.versions import alias_version, audit_trail, register_version
from tests.mlflow_factories import gate_policy, log_fixed_model, tracking_uri

NAME = "llm2slm-task-01"
FAST = {"latency_ms_p95": 20.0}


@pytest.fixture()
def store(tmp_path):
    from mlflow import MlflowClient

    uri = tracking_uri(tmp_path)
    return tmp_path, uri, MlflowClient(tracking_uri=uri, registry_uri=uri)


def _register(folder, uri, agreement, candidate, champion=None):
    return register_version(uri, NAME, "task-01", log_fixed_model(folder, candidate), "closed_label",
                            {"agreement": agreement, **FAST}, {"llm2slm.candidate": candidate}, gate_policy(),
                            by="ci", champion_metrics=champion)


def _reevaluated(version: str, agreement: float, n_calls: int = 40, n_cached: int = 30) -> ChampionFigures:
    return ChampionFigures(name=NAME, version=version, shape="closed_label",
                           metrics={"agreement": agreement, "accuracy": agreement, "macro_f1": agreement},
                           n_calls=n_calls, n_cached=n_cached, n_predicted=n_calls - n_cached)


def _events(client, version: str, action: str) -> list[dict]:
    return [e for e in audit_trail(client, NAME) if e["version"] == version and e["action"] == action]


def test_a_challenger_on_easier_calls_is_not_promoted_over_the_champion_re_evaluated_on_them(store):
    folder, uri, client = store
    champion = _register(folder, uri, 0.90, "old")  # 0.90 on the old, harder test calls
    assert champion.aliases == ["challenger", "champion"]

    judged = _register(folder, uri, 0.93, "new", champion=_reevaluated(champion.version, 0.97))
    assert judged.aliases == ["challenger"] and not judged.gate_passed
    assert alias_version(client, NAME, "champion") == champion.version
    line = next(r for r in judged.gate_reasons if "champion" in r)
    assert line == ("FAIL agreement 0.930 < champion 0.970 - tolerance 0.020 (champion version 1 re-evaluated on 40 "
                    "current test calls, 30 answered from the cache; 0.900 at its registration)")
    failed, = _events(client, judged.version, "gate-failed")
    assert failed["figures"]["champion_value"] == 0.97 and failed["figures"]["champion_tag_value"] == 0.9
    assert failed["figures"]["champion_basis"] == "re-evaluated"
    assert failed["figures"]["champion_reevaluated_calls"] == 40 and failed["figures"]["champion_cached_answers"] == 30
    assert "re-evaluated on 40 current test calls" in failed["why"]

    # the same challenger, compared with the champion's tag figure as before: it passes and takes champion
    by_tags = _register(folder, uri, 0.93, "new-by-tags")
    assert by_tags.aliases == ["challenger", "champion"] and by_tags.gate_passed
    assert alias_version(client, NAME, "champion") == by_tags.version
    assert "ok agreement 0.930 >= champion 0.900 - tolerance 0.020 (champion version 1: its registration figure)" \
        in by_tags.gate_reasons
    promoted = json.loads(client.get_model_version(NAME, by_tags.version).tags["alias.champion"])
    assert promoted["figures"]["champion_basis"] == "tags"


def test_a_champion_flattered_by_its_old_split_gives_way_when_re_evaluated(store):
    folder, uri, client = store
    champion = _register(folder, uri, 0.99, "old")  # 0.99 on an easy old split, 0.91 on today's calls
    judged = _register(folder, uri, 0.92, "new", champion=_reevaluated(champion.version, 0.91))
    assert judged.aliases == ["challenger", "champion"] and judged.gate_passed
    assert alias_version(client, NAME, "champion") == judged.version
    promoted = json.loads(client.get_model_version(NAME, judged.version).tags["alias.champion"])
    assert promoted["action"] == "promote" and promoted["figures"]["champion_value"] == 0.91
    assert "0.990 at its registration" in promoted["why"]


def test_a_re_evaluation_that_cannot_be_compared_falls_back_to_the_tags():
    tags = {"agreement": 0.9}
    moved = champion_basis("2", tags, "agreement", _reevaluated("1", 0.97))
    assert moved.metrics == tags and moved.figures["champion_basis"] == "tags"
    assert moved.note == "champion version 2: its registration figure; version 1 was re-evaluated but no longer " \
                         "holds champion"
    raw = champion_basis("1", {"raw_agreement": 0.8}, "raw_agreement", _reevaluated("1", 0.97))
    assert raw.metrics == {"raw_agreement": 0.8} and "raw_agreement is not one of the re-evaluated figures" in raw.note
    assert champion_basis(None, None, "agreement", _reevaluated("1", 0.97)).metrics is None
