"""`llm2slm promote`, `llm2slm rollback` and `llm2slm history`: the release manager's commands on the registry.

Each exits with a message naming the problem: 1 for an unknown task or version, a gate failure without --force,
no previous champion; 2 for --force without --reason. MLflow is imported only when a command runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from llm2slm.cli.common import FAILED, USAGE, HomeOpt, ProjectOpt, fail, print_table, setup, table, text_cells
from llm2slm.common.config import Config

TaskArg = Annotated[str, typer.Argument(help="Task id, e.g. task-01 (the registered model is <prefix>-<task>).")]
ByOpt = Annotated[Optional[str], typer.Option("--by", help="Who is acting (default: $USER).")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why; recorded on the version.")]
HISTORY_COLUMNS = ("at", "version", "action", "alias", "by", "why")


def _context(project: Path | None, home: Path | None) -> tuple[Config, Any]:
    """(config, MLflow client of the configured store), with the CLI's environment set."""
    from llm2slm.registry.versions import registry_client

    cfg = setup(project, home)
    return cfg, registry_client(cfg.mlflow_tracking_uri)


def promote(task: TaskArg, version: Annotated[str, typer.Option("--version", help="Model version to promote.")],
            force: Annotated[bool, typer.Option("--force", help="Override a failed gate (needs --reason).")] = False,
            reason: ReasonOpt = "", by: ByOpt = None, project: ProjectOpt = None, home: HomeOpt = None) -> None:
    """Move `champion` to a version of a task's specialist after checking the promotion gate."""
    from llm2slm.registry.versions import GateFailed, RegistryError, load_policy, model_name
    from llm2slm.registry.versions import promote as promote_version

    if force and not reason.strip():
        fail("--force needs --reason: say why the gate is overridden", USAGE)
    cfg, client = _context(project, home)
    name = model_name(cfg.registry.model_prefix, task)
    try:
        move = promote_version(client, name, version, load_policy(cfg.policy_path()), by=by, why=reason,
                               force=force)
    except GateFailed as exc:
        for line in exc.result.reasons:
            typer.echo(f"  {line}", err=True)
        fail(f"{name} version {version}: {exc} (use --force --reason '...' to override)", FAILED)
    except RegistryError as exc:
        fail(str(exc), FAILED)
    for line in move.gate.reasons if move.gate else []:
        typer.echo(f"  {line}")
    typer.echo(f"{name}: champion -> version {move.version} ({move.action}; was {move.previous or 'none'})")


def rollback(task: TaskArg, reason: ReasonOpt = "", by: ByOpt = None, project: ProjectOpt = None,
             home: HomeOpt = None) -> None:
    """Return `champion` to the version that held it before the current one."""
    from llm2slm.registry.versions import RegistryError, model_name
    from llm2slm.registry.versions import rollback as rollback_model

    cfg, client = _context(project, home)
    name = model_name(cfg.registry.model_prefix, task)
    try:
        move = rollback_model(client, name, by=by, why=reason)
    except RegistryError as exc:
        fail(str(exc), FAILED)
    typer.echo(f"{name}: champion -> version {move.version} (rolled back from version {move.previous})")


def history(task: TaskArg, as_json: Annotated[bool, typer.Option("--json", help="One JSON event per line.")] = False,
            project: ProjectOpt = None, home: HomeOpt = None) -> None:
    """Print the audit trail of a task's specialist: every alias move with who, when, why and the gate."""
    from llm2slm.registry.versions import RegistryError, audit_trail, model_name

    cfg, client = _context(project, home)
    name = model_name(cfg.registry.model_prefix, task)
    try:
        events = audit_trail(client, name)
    except RegistryError as exc:
        fail(str(exc), FAILED)
    if as_json:
        for event in events:
            typer.echo(json.dumps(event, sort_keys=True))
        return
    if not events:
        typer.echo(f"{name}: no alias move recorded")
        return
    grid = table(*HISTORY_COLUMNS, title=f"{name}: alias moves, oldest first")
    for event in events:
        grid.add_row(*text_cells(*(event.get(column, "") for column in HISTORY_COLUMNS)))
    print_table(grid)


def add_registry_commands(app: typer.Typer) -> None:
    for command in (promote, rollback, history):
        app.command()(command)
