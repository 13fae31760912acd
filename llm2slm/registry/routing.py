"""Where a task's calls go, kept on its registered model: the mode and the share the specialist serves.

Modes: `off` (the LLM answers every call), `shadow` (the LLM answers; the champion answers too, for comparison
only), `canary` (the champion answers a share of the calls, 0 < share < 1), `on` (the champion answers every call
it is confident on). They are registered-model tags, so the MLflow UI shows them and the registry is the one source
of truth: `llm2slm.route.mode` and `llm2slm.route.share` (`on` is 1, `off` and `shadow` 0). A model without the
tags is `off`. Every change adds one audit tag on the registered model, `route_audit.NNNN`: a JSON object with
who, when (UTC), the setting before and after, why and the champion version then.

A tag pair that is not a valid setting (edited by hand in the UI, say) reads as `off`, with `problem` saying why:
an unreadable setting never sends calls to a specialist. `set_route` writes the two tags in the order that keeps
each intermediate state valid, so a reader between the two writes sees the old setting or the new one.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Literal, get_args

from pydantic import BaseModel

from llm2slm.registry.versions import CHALLENGER, CHAMPION, RegistryError, require_model, version_figures

Mode = Literal["off", "shadow", "canary", "on"]
MODES: tuple[str, ...] = get_args(Mode)
MODE_TAG = "llm2slm.route.mode"
SHARE_TAG = "llm2slm.route.share"
ROUTE_AUDIT_PREFIX = "route_audit."
TASK_TAG = "llm2slm.task_id"
LLM_COST_METRIC = "cost_per_1k_llm_usd"  # the evaluation's figure on a version's `metric.` tags
PAGE = 1000  # registered models per search page


class RegistryUnavailable(RegistryError):
    """The registry could not be read at all (a server down, a store that cannot be opened)."""


class RouteSetting(BaseModel):
    task_id: str
    name: str
    mode: Mode = "off"
    share: float = 0.0  # of the task's calls the champion serves: 0 for off and shadow, 1 for on
    champion: str | None = None
    challenger: str | None = None
    problem: str | None = None  # why the stored tags were read as `off`


def check_route(mode: str, share: float | None) -> float:
    """The share a valid (mode, share) stores; RegistryError saying what is wrong otherwise."""
    if mode not in MODES:
        raise RegistryError(f"unknown route mode {mode!r}: expected one of {', '.join(MODES)}")
    if mode == "canary":
        if share is None:
            raise RegistryError("mode canary needs a share: 0 < share < 1, e.g. --share 0.1")
        if not 0 < share < 1:
            raise RegistryError(f"share {share:g}: canary needs 0 < share < 1 (use mode on for 1, off for 0)")
        return float(share)
    fixed = 1.0 if mode == "on" else 0.0
    if share is not None and share != fixed:
        raise RegistryError(f"share {share:g}: mode {mode} always serves a share of {fixed:g}")
    return fixed


def parse_route_tags(tags: dict[str, str]) -> tuple[str, float, str | None]:
    """(mode, share, problem) of a registered model's tags; an invalid pair reads as ('off', 0, why)."""
    mode = tags.get(MODE_TAG)
    if mode is None:
        return "off", 0.0, None
    raw = tags.get(SHARE_TAG)
    try:
        share = float(raw) if raw is not None else None
        return mode, check_route(mode, share), None
    except ValueError as exc:  # RegistryError is a ValueError, and so is float('x')
        return "off", 0.0, f"invalid route tags {MODE_TAG}={mode!r} {SHARE_TAG}={raw!r} ({exc}): read as off"


def _setting(model, prefix: str | None = None) -> RouteSetting:
    tags = dict(model.tags or {})
    aliases = {alias: str(version) for alias, version in (getattr(model, "aliases", None) or {}).items()}
    task_id = tags.get(TASK_TAG) or (model.name[len(prefix) + 1:] if prefix else model.name)
    mode, share, problem = parse_route_tags(tags)
    return RouteSetting(task_id=task_id, name=model.name, mode=mode, share=share, champion=aliases.get(CHAMPION),
                        challenger=aliases.get(CHALLENGER), problem=problem)


def open_registry(tracking_uri: str):
    """The MLflow client of the registry; RegistryUnavailable when the store cannot even be opened."""
    from llm2slm.registry.versions import registry_client

    try:
        return registry_client(tracking_uri)
    except Exception as exc:  # noqa: BLE001 (a sqlite file in a folder that cannot be made, a bad URI)
        raise RegistryUnavailable(f"cannot open the model registry: {type(exc).__name__}: {exc}") from exc


def route_setting(client, name: str) -> RouteSetting:
    """The route setting of one registered model; RegistryError when there is no such model."""
    return _setting(require_model(client, name))


def route_settings(client, prefix: str) -> dict[str, RouteSetting]:
    """Every registered model named `<prefix>-...`, by task id. One search (per page of PAGE models): the
    search answers each model's tags and aliases. RegistryUnavailable when the registry cannot be read."""
    found, token = [], None
    while True:
        try:
            page = client.search_registered_models(filter_string=f"name LIKE '{prefix}-%'", max_results=PAGE,
                                                   page_token=token)
        except Exception as exc:  # noqa: BLE001 (a server down, a store that cannot be opened: one answer)
            raise RegistryUnavailable(f"cannot read the model registry: {type(exc).__name__}: {exc}") from exc
        found += [m for m in page if m.name.startswith(f"{prefix}-")]  # LIKE reads `_` as any character
        token = page.token
        if not token:
            break
    settings = [_setting(model, prefix) for model in found]
    return {s.task_id: s for s in sorted(settings, key=lambda s: s.task_id)}


def route_audit(client, name: str) -> list[dict[str, Any]]:
    """The route changes of a registered model, oldest first."""
    tags = require_model(client, name).tags or {}
    events = [json.loads(v) for k, v in tags.items() if k.startswith(ROUTE_AUDIT_PREFIX)]
    return sorted(events, key=lambda e: e["seq"])


def set_route(client, name: str, mode: str, share: float | None, by: str, why: str = "") -> RouteSetting:
    """Set a registered model's route mode and share, with one audit event. Validates everything before writing:
    a bad mode or share, an unknown model, or a mode that serves the champion while there is none raise
    RegistryError and change nothing."""
    stored = check_route(mode, share)
    model = require_model(client, name)
    before = _setting(model)
    if mode != "off" and before.champion is None:
        raise RegistryError(f"{name} has no champion: mode {mode} needs one (`llm2slm promote` sets it)")
    tags = model.tags or {}
    seq = 1 + max((int(key[len(ROUTE_AUDIT_PREFIX):]) for key in tags if key.startswith(ROUTE_AUDIT_PREFIX)
                   and key[len(ROUTE_AUDIT_PREFIX):].isdigit()), default=0)
    writes = [(SHARE_TAG, format(stored, ".12g")), (MODE_TAG, mode)]
    if mode != "canary":  # canary: the share first (another old mode ignores it); else the mode (it ignores the share)
        writes.reverse()
    for key, value in writes:
        client.set_registered_model_tag(name, key, value)
    event = {"seq": seq, "at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "by": by, "why": why,
             "champion": before.champion,
             "from": {"mode": before.mode, "share": before.share}, "to": {"mode": mode, "share": stored}}
    client.set_registered_model_tag(name, f"{ROUTE_AUDIT_PREFIX}{seq:04d}", json.dumps(event, sort_keys=True))
    return before.model_copy(update={"mode": mode, "share": stored, "problem": None})


def champion_llm_cost_per_call(client, setting: RouteSetting) -> float | None:
    """USD per call the LLM cost on the champion's evaluation test set (its `metric.cost_per_1k_llm_usd` tag), or
    None when there is no champion or the version has no such figure."""
    from mlflow.exceptions import MlflowException

    if setting.champion is None:
        return None
    try:
        version = client.get_model_version(setting.name, setting.champion)
    except MlflowException:
        return None
    per_1k = version_figures(version)[1].get(LLM_COST_METRIC)
    return per_1k / 1000 if per_1k is not None else None
