"""The specialist registry: one MLflow registered model per task, its aliases, the champion gate and the audit trail.

The promotion policy and its gate are in `llm2slm.registry.gate` (imported here too). A new version gets
`challenger`. `champion` moves only through `promote` (the gate of the promotion policy, or `force` with a reason)
or `rollback` (back to the previous champion). Every move is written on the version it concerns as tags:
`alias.<alias>` holds the latest move of that alias onto the version, and `audit.NNNN` one tag per event (who,
when in UTC, what, why, the gate's figures). The registered model keeps the tag `llm2slm.champion_history`,
the versions that held `champion` in order, so rollback knows the previous one.

A version carries what the gate needs as tags, so the gate can be run again at any time: `llm2slm.shape` and
`metric.<name>` for each evaluation figure. Those figures were measured on the test split of the conversion that
registered the version; the convert flow re-evaluates the champion on the challenger's test calls and the gate
compares with that (`judge`, `llm2slm.registry.footing`), the tag figure kept in the audit event for reference.
A version also carries its deferral threshold (`route_tags`, read by `route_threshold`):
`llm2slm.route.threshold`, the confidence at or above which the router lets it answer, as Python writes the
float (`repr`), "1.01" when no threshold reached the target (it answers nothing), and
`llm2slm.route.target_agreement`, the target it was calibrated to.
"""

from __future__ import annotations

import getpass
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from llm2slm.registry.footing import champion_basis
# the promotion policy and its gate live in llm2slm.registry.gate; imported here for the callers of this module
from llm2slm.registry.gate import (SHAPES, GateResult, PromotionPolicy, RegistryError, ShapeRule,  # noqa: F401
                                   gate, gate_metric, load_policy)

if TYPE_CHECKING:  # annotations only: the CLI and the gateway import this module and need no evaluation code
    from llm2slm.evaluation.champion import ChampionFigures

CHAMPION, CHALLENGER = "champion", "challenger"
HISTORY_TAG = "llm2slm.champion_history"
SHAPE_TAG = "llm2slm.shape"
METRIC_PREFIX = "metric."
AUDIT_PREFIX = "audit."
ROUTE_THRESHOLD_TAG = "llm2slm.route.threshold"
ROUTE_TARGET_TAG = "llm2slm.route.target_agreement"


class GateFailed(RegistryError):
    """The gate refused a promotion; `result` holds the figures."""

    def __init__(self, result: "GateResult") -> None:
        super().__init__("gate failed: " + "; ".join(r for r in result.reasons if r.startswith("FAIL")))
        self.result = result


def _new_version(model_uri: str, name: str, tags: dict[str, str]) -> str:
    """`mlflow.register_model`, without the lines it prints to stderr for each version (the log says it once)."""
    import contextlib
    import io

    import mlflow

    with contextlib.redirect_stderr(io.StringIO()):
        return str(mlflow.register_model(model_uri, name, tags=tags).version)


def route_tags(threshold: float, target_agreement: float) -> dict[str, str]:
    """The version tags of a calibrated deferral threshold (exact text: the router compares with it)."""
    return {ROUTE_THRESHOLD_TAG: repr(float(threshold)), ROUTE_TARGET_TAG: repr(float(target_agreement))}


def route_threshold(version) -> float | None:
    """The deferral threshold a model version was registered with; None when it has none (or not a number)."""
    text = (version.tags or {}).get(ROUTE_THRESHOLD_TAG)
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def model_name(prefix: str, task_id: str) -> str:
    return f"{prefix}-{task_id}"


def current_user(by: str | None = None) -> str:
    return by or os.environ.get("USER") or getpass.getuser()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


# ---- reading the registry ----

def registry_client(tracking_uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def require_model(client, name: str):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_registered_model(name)
    except MlflowException as exc:
        raise RegistryError(f"no registered model {name!r} (has its task been converted?)") from exc


def require_version(client, name: str, version: str):
    from mlflow.exceptions import MlflowException

    require_model(client, name)
    try:
        return client.get_model_version(name, str(version))
    except MlflowException as exc:
        raise RegistryError(f"{name} has no version {version!r}") from exc


def alias_version(client, name: str, alias: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def version_figures(version) -> tuple[str | None, dict[str, float]]:
    """(shape, metrics) recorded on a model version's tags."""
    tags = version.tags or {}
    metrics = {}
    for key, value in tags.items():
        if key.startswith(METRIC_PREFIX):
            try:
                metrics[key[len(METRIC_PREFIX):]] = float(value)
            except ValueError:
                continue
    return tags.get(SHAPE_TAG), metrics


def champion_history(client, name: str) -> list[str]:
    tags = require_model(client, name).tags or {}
    return [str(v) for v in json.loads(tags.get(HISTORY_TAG, "[]"))]


def audit_trail(client, name: str) -> list[dict[str, Any]]:
    """Every recorded alias move of a model's versions, oldest first."""
    from mlflow.exceptions import MlflowException

    require_model(client, name)
    events = []
    try:
        versions = client.search_model_versions(f"name='{name}'")
    except MlflowException as exc:
        raise RegistryError(f"cannot list the versions of {name}: {exc}") from exc
    for version in versions:
        for key, value in (version.tags or {}).items():
            if key.startswith(AUDIT_PREFIX):
                events.append({"version": str(version.version), **json.loads(value)})
    return sorted(events, key=lambda e: (e["at"], int(e["version"]), e.get("seq", 0)))


# ---- moving aliases ----

def record_event(client, name: str, version: str, action: str, alias: str, by: str, why: str,
                 figures: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write one audit event on the version (and `alias.<alias>` when the alias moved onto it)."""
    existing = client.get_model_version(name, version).tags or {}
    seq = 1 + sum(key.startswith(AUDIT_PREFIX) for key in existing)
    event = {"action": action, "alias": alias, "by": by, "at": _now(), "why": why, "figures": figures or {},
             "seq": seq}
    text = json.dumps(event, sort_keys=True, default=str)
    client.set_model_version_tag(name, version, f"{AUDIT_PREFIX}{seq:04d}", text)
    if action in ("set", "promote", "force-promote", "rollback"):
        client.set_model_version_tag(name, version, f"alias.{alias}", text)
    return event


def _move_champion(client, name: str, version: str, action: str, by: str, why: str,
                   figures: dict[str, Any], history: list[str]) -> None:
    previous = alias_version(client, name, CHAMPION)
    client.set_registered_model_alias(name, CHAMPION, version)
    record_event(client, name, version, action, CHAMPION, by, why, figures)
    if previous and previous != version:
        record_event(client, name, previous, "lost", CHAMPION, by, f"{action} of version {version}: {why}")
    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))


def judge(client, name: str, champion: str | None, policy: PromotionPolicy, shape: str, metrics: dict[str, float],
          reevaluated: ChampionFigures | None = None) -> GateResult:
    """The gate of `metrics` against `champion` (None: no champion): its figures re-evaluated on the challenger's
    test calls when `reevaluated` can be compared with, else those on its version tags (`footing`); the figures
    say which, for the audit event."""
    tag_metrics = version_figures(client.get_model_version(name, champion))[1] if champion else None
    rule = policy.metrics.get(shape)
    basis = champion_basis(champion, tag_metrics, rule.metric if rule else None, reevaluated)
    result = gate(policy, shape, metrics, basis.metrics, basis.note)
    result.figures.update(basis.figures)
    return result


class AliasMove(BaseModel):
    name: str
    version: str
    previous: str | None
    action: str
    gate: GateResult | None = None


def promote(client, name: str, version: str, policy: PromotionPolicy, by: str | None = None,
            why: str = "", force: bool = False, champion_metrics: ChampionFigures | None = None) -> AliasMove:
    """Move `champion` to `version` if it passes the gate (or `force` with a reason). Raises GateFailed.
    `champion_metrics`: the current champion re-evaluated on this version's test calls, compared with instead of
    its version tags."""
    target = require_version(client, name, version)
    version = str(target.version)
    if force and not why.strip():
        raise RegistryError("--force needs --reason: say why the gate is overridden")
    previous = alias_version(client, name, CHAMPION)
    if previous == version:
        raise RegistryError(f"{name} version {version} is already the champion")
    shape, metrics = version_figures(target)
    if shape is None:
        raise RegistryError(f"{name} version {version} has no {SHAPE_TAG} tag: it was not registered by llm2slm")
    result = judge(client, name, previous, policy, shape, metrics, champion_metrics)
    if not result.passed and not force:
        raise GateFailed(result)
    action = "promote" if result.passed else "force-promote"
    why = why or "gate passed: " + "; ".join(result.reasons)
    figures = {**result.figures, "gate_passed": result.passed, "gate_reasons": result.reasons}
    history = [v for v in champion_history(client, name) if v != version] + [version]
    _move_champion(client, name, version, action, current_user(by), why, figures, history)
    return AliasMove(name=name, version=version, previous=previous, action=action, gate=result)


def rollback(client, name: str, by: str | None = None, why: str = "") -> AliasMove:
    """Move `champion` back to the version that held it before the current one."""
    require_model(client, name)
    current = alias_version(client, name, CHAMPION)
    if current is None:
        raise RegistryError(f"{name} has no champion to roll back")
    history = champion_history(client, name)
    if current in history:
        history = history[:len(history) - 1 - history[::-1].index(current)]
    existing = {str(v.version) for v in client.search_model_versions(f"name='{name}'")}
    while history and history[-1] not in existing:  # a deleted version cannot serve again
        history.pop()
    if not history:
        raise RegistryError(f"{name} has no previous champion before version {current}")
    target = history[-1]
    why = why or f"rollback from version {current}"
    _move_champion(client, name, target, "rollback", current_user(by), why, {"from_version": current}, history)
    return AliasMove(name=name, version=target, previous=current, action="rollback")


class RegisteredVersion(BaseModel):
    task_id: str
    name: str
    version: str
    aliases: list[str]
    gate_passed: bool
    gate_reasons: list[str]
    mode: str


def _ensure_model(client, name: str, task_id: str, description: str | None = None) -> None:
    """Create the task's registered model if needed; a `description` replaces the one it has."""
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, tags={"llm2slm.task_id": task_id},
                                       description=description or f"llm2slm specialist for discovered task {task_id}")
        return
    if description:
        client.update_registered_model(name, description=description)


RUN_TAG = "llm2slm.conversion_run"  # the conversion run that registered a version


def _registered_by_run(client, name: str, tags: dict[str, str]) -> str | None:
    """The version this conversion run already registered for the same candidate (a retried registration must not
    add a second one); None when there is none or the version carries no conversion run."""
    run = tags.get(RUN_TAG)
    if not run:
        return None
    for found in client.search_model_versions(f"name='{name}'"):
        if found.tags.get(RUN_TAG) == run and found.tags.get("llm2slm.candidate") == tags.get("llm2slm.candidate"):
            return str(found.version)
    return None


def register_version(tracking_uri: str, name: str, task_id: str, model_uri: str, shape: str,
                     metrics: dict[str, float], tags: dict[str, str], policy: PromotionPolicy,
                     by: str | None = None, description: str | None = None,
                     champion_metrics: ChampionFigures | None = None) -> RegisteredVersion:
    """Register `model_uri` as a new version: `challenger` always; `champion` too when the policy is auto and the
    gate passes. The version's tags carry the shape and metrics so the gate can be rerun by `llm2slm promote`.
    `champion_metrics`: the current champion re-evaluated on the calls `metrics` were measured on; the gate
    compares with it rather than with the champion's tags (measured on an older test split).
    Idempotent within a conversion run: retried with the same `llm2slm.conversion_run` tag and candidate, it
    finishes the version that run registered instead of adding one."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    client = registry_client(tracking_uri)
    _ensure_model(client, name, task_id, description)
    version_tags = {**tags, SHAPE_TAG: shape, **{f"{METRIC_PREFIX}{k}": f"{v:.6g}" for k, v in metrics.items()}}
    version = _registered_by_run(client, name, tags) or _new_version(model_uri, name, version_tags)
    who = current_user(by)
    client.set_registered_model_alias(name, CHALLENGER, version)
    record_event(client, name, version, "set", CHALLENGER, who, "new version from the convert flow",
                 {"shape": shape, **metrics})
    champion = alias_version(client, name, CHAMPION)
    result = judge(client, name, champion, policy, shape, metrics, champion_metrics)
    aliases = [CHALLENGER]
    if policy.mode == "auto" and result.passed:
        if champion != version:  # a retried registration may have promoted it already
            promote(client, name, version, policy, by=who, why="automatic: " + "; ".join(result.reasons),
                    champion_metrics=champion_metrics)
        aliases.append(CHAMPION)
    elif policy.mode == "manual":
        record_event(client, name, version, "awaiting-promotion", CHAMPION, who,
                     "policy mode is manual: `llm2slm promote` moves champion",
                     {**result.figures, "gate_passed": result.passed, "gate_reasons": result.reasons})
    else:
        record_event(client, name, version, "gate-failed", CHAMPION, who, "; ".join(result.reasons),
                     {**result.figures, "gate_passed": False, "gate_reasons": result.reasons})
    return RegisteredVersion(task_id=task_id, name=name, version=version, aliases=aliases,
                             gate_passed=result.passed, gate_reasons=result.reasons, mode=policy.mode)
