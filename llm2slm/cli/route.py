"""`llm2slm route` and `llm2slm status`: where each task's calls go, and what the gateway did with them.

`route TASK --mode off|shadow|canary|on [--share S]` needs a release or admin key (--key or $LLM2SLM_API_KEY); the
setting lives on the task's registered model (`llm2slm.registry.routing`). `status` reads the registry and the
route log of every gateway replica over a window. Exit status: 1 an unknown task, a task without a champion, an
unreachable registry; 2 a bad mode, share or window; 3 a refused key.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from llm2slm.cli.common import AUTH, FAILED, USAGE, HomeOpt, ProjectOpt, fail, print_table, setup, table, text_cells
from llm2slm.common.config import Config

if TYPE_CHECKING:
    from llm2slm.registry.routing import RouteSetting
    from llm2slm.serving.route_log import LogRead, TaskTraffic

STATUS_COLUMNS = ("task", "champion", "challenger", "mode", "calls", "specialist", "shadow agreement (n)",
                  "fallbacks", "cost saved (USD)")
STATUS_HTTP = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
KeyOpt = Annotated[Optional[str], typer.Option("--key", "--api-key", help="A release or admin API key (default: "
                                               "$LLM2SLM_API_KEY).", show_default=False)]


def _release_manager(cfg: Config, key: str | None) -> str:
    """The acting key's name; exits 3 unless it is an active release or admin key."""
    from llm2slm.capture.keys import AuthError, Role
    from llm2slm.capture.local import caller_token, open_keyring

    token = caller_token(cfg, key)
    try:
        return open_keyring(cfg).require(token, Role.RELEASE, Role.ADMIN).name
    except AuthError as exc:
        if exc.status == 403:
            fail(f"permission denied (403): {exc.message}; `llm2slm route` needs a release or admin key", AUTH)
        hint = "" if token else f" (pass --key or set ${cfg.capture.api_key_env})"
        fail(f"not authenticated (401): {exc.message}{hint}", AUTH)


def _registry(cfg: Config) -> tuple[Any, dict[str, "RouteSetting"]]:
    """(MLflow client, route settings by task); exits 1 saying so when the registry cannot be read."""
    from llm2slm.registry.routing import RegistryUnavailable, open_registry, route_settings

    try:
        client = open_registry(cfg.mlflow_tracking_uri)
        return client, route_settings(client, cfg.registry.model_prefix)
    except RegistryUnavailable as exc:
        fail(f"{exc} (tracking URI {cfg.mlflow_tracking_uri})", FAILED)


def describe_mode(setting: "RouteSetting") -> str:
    text = f"canary {setting.share:.0%}" if setting.mode == "canary" else setting.mode
    return f"{text} (invalid tags)" if setting.problem else text


def route(task: Annotated[str, typer.Argument(help="Task id, e.g. task-01.")],
          mode: Annotated[str, typer.Option("--mode", help="off | shadow | canary | on")],
          share: Annotated[Optional[float], typer.Option("--share", help="Share of the task's calls the champion "
                                                         "answers: canary only, 0 < share < 1.")] = None,
          reason: Annotated[str, typer.Option("--reason", help="Why; recorded in the route audit.")] = "",
          key: KeyOpt = None, project: ProjectOpt = None, home: HomeOpt = None) -> None:
    """Set where a task's calls go: off (the LLM), shadow (the LLM, champion compared), canary (a share to the
    champion) or on (the champion). Needs a release or admin key."""
    from llm2slm.registry.routing import RegistryError, check_route, set_route
    from llm2slm.registry.versions import model_name

    cfg = setup(project, home)
    try:
        check_route(mode, share)
    except RegistryError as exc:
        fail(str(exc), USAGE)
    actor = _release_manager(cfg, key)
    client, settings = _registry(cfg)
    if task not in settings:
        known = ", ".join(settings) or "none yet (run `llm2slm convert`)"
        fail(f"unknown task {task!r}: no registered model {model_name(cfg.registry.model_prefix, task)}; "
             f"known tasks: {known}", FAILED)
    try:
        new = set_route(client, settings[task].name, mode, share, by=actor, why=reason)
    except RegistryError as exc:
        fail(str(exc), FAILED)
    old = settings[task]
    typer.echo(f"{new.name}: route {describe_mode(old)} -> {describe_mode(new)} (champion version "
               f"{new.champion or 'none'}; by {actor})")


def _fallback_costs(client, settings: dict[str, "RouteSetting"], traffic: list["TaskTraffic"]) -> dict[str, float]:
    """USD per call from the champion's evaluation, for the tasks whose window priced no LLM call."""
    from llm2slm.registry.routing import champion_llm_cost_per_call

    costs = {}
    for item in traffic:
        if item.cost_basis is None and item.specialist and item.task_id in settings:
            cost = champion_llm_cost_per_call(client, settings[item.task_id])
            if cost is not None:
                costs[item.task_id] = cost
    return costs


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def status_row(setting: "RouteSetting | None", item: "TaskTraffic") -> list[str]:
    fallbacks = ", ".join(f"{reason} {n}" for reason, n in item.fallbacks.items()) or "0"
    saved = "-" if item.cost_saved_usd is None else f"{item.cost_saved_usd:.4f}"
    saved += " *" if item.cost_basis == "evaluation" and item.specialist else ""
    if setting is None:  # traffic of a task without a registered model (task "none": no task matched)
        head = [item.task_id, "-", "-", "unregistered"]
    else:
        head = [item.task_id, setting.champion or "-", setting.challenger or "-", describe_mode(setting)]
    return head + [str(item.calls), f"{_percent(item.specialist_share)} ({item.specialist})",
                   f"{_percent(item.agreement)} ({item.shadow_compared})", fallbacks, saved]


def _json(window: str, since: datetime, read: "LogRead", settings: dict[str, "RouteSetting"],
          traffic: list["TaskTraffic"]) -> dict[str, Any]:
    tasks = []
    for item in traffic:
        setting = settings.get(item.task_id)
        tasks.append({**(setting.model_dump() if setting else {"task_id": item.task_id, "name": None}),
                      "traffic": item.model_dump()})
    return {"window": window, "since": since.isoformat(), "replica_files": read.files,
            "skipped_lines": read.skipped, "tasks": tasks}


def status(window: Annotated[str, typer.Option("--window", help="How far back to read the route log: 30m, 24h, "
                                               "7d.")] = "24h",
           as_json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
           project: ProjectOpt = None, home: HomeOpt = None) -> None:
    """Every task with a registered model: champion, challenger, route mode, and over the window the calls, the
    share the specialist served, shadow agreement, fallbacks and the LLM cost saved."""
    from llm2slm.common.artifacts import Artifacts
    from llm2slm.serving.route_log import parse_window, read_events, summarize

    cfg = setup(project, home)
    try:
        span: timedelta = parse_window(window)
    except ValueError as exc:
        fail(f"--window: {exc}", USAGE)
    for name, value in STATUS_HTTP.items():  # a registry server that is down is reported in seconds
        os.environ.setdefault(name, value)
    client, settings = _registry(cfg)
    since = datetime.now(timezone.utc) - span
    read = read_events(Artifacts(cfg.paths).route_log, since)
    prices = cfg.evaluate.llm_prices
    traffic = summarize(read.events, prices, tasks=settings)
    fallback = _fallback_costs(client, settings, traffic)
    if fallback:
        traffic = summarize(read.events, prices, fallback, tasks=settings)
    traffic.sort(key=lambda t: (t.task_id not in settings, t.task_id))  # unregistered traffic ("none") last
    if as_json:
        typer.echo(json.dumps(_json(window, since, read, settings, traffic), sort_keys=True))
        return
    grid = table(*STATUS_COLUMNS, title=f"routes and traffic, last {window.strip()} (since "
                                        f"{since.isoformat(timespec='seconds')})")
    for item in traffic:
        grid.add_row(*text_cells(*status_row(settings.get(item.task_id), item)))
    print_table(grid)
    _footer(read, traffic, settings, Artifacts(cfg.paths).route_log)


def _footer(read: "LogRead", traffic: list["TaskTraffic"], settings: dict, folder: Path) -> None:
    if not settings:
        typer.echo("no registered model yet: `llm2slm convert` registers a specialist per task")
    if any(t.cost_basis == "evaluation" and t.specialist for t in traffic):
        typer.echo("* no LLM-answered call of the task in the window: priced at the LLM cost per call measured "
                   "on the champion's evaluation test set")
    typer.echo(f"{len(read.events)} route events from {read.files} replica file(s) in {folder}"
               + (f"; {read.skipped} torn line(s) skipped" if read.skipped else ""))


def add_route_commands(app: typer.Typer) -> None:
    app.command()(route)
    app.command()(status)
