"""`llm2slm promote`, `llm2slm rollback` and `llm2slm history`: the release manager's commands on the registry.

Each exits non-zero with a message naming the problem (unknown task or version, gate failure without --force,
--force without --reason, no previous champion). MLflow is imported only when a command runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

TaskArg = Annotated[str, typer.Argument(help="Task id, e.g. task-01 (the registered model is <prefix>-<task>).")]
ByOpt = Annotated[Optional[str], typer.Option("--by", help="Who is acting (default: $USER).")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why; recorded on the version.")]
ProjectOpt = Annotated[Optional[Path], typer.Option("--project", help="Project folder (holds params.yaml).")]
HomeOpt = Annotated[Optional[Path], typer.Option("--home", help="Folder for everything a run writes.")]


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _context(project: Path | None, home: Path | None):
    """(config, MLflow client of the configured store), with the CLI's environment set."""
    from llm2slm.cli import _setup
    from llm2slm.registry.versions import _client

    cfg = _setup(project, home)
    return cfg, _client(cfg.mlflow_tracking_uri)


def promote(task: TaskArg, version: Annotated[str, typer.Option("--version", help="Model version to promote.")],
            force: Annotated[bool, typer.Option("--force", help="Override a failed gate (needs --reason).")] = False,
            reason: ReasonOpt = "", by: ByOpt = None, project: ProjectOpt = None, home: HomeOpt = None) -> None:
    """Move `champion` to a version of a task's specialist after checking the promotion gate."""
    from llm2slm.registry.versions import GateFailed, RegistryError, load_policy, model_name
    from llm2slm.registry.versions import promote as promote_version

    if force and not reason.strip():
        _fail("--force needs --reason: say why the gate is overridden")
    cfg, client = _context(project, home)
    name = model_name(cfg.registry.model_prefix, task)
    try:
        move = promote_version(client, name, version, load_policy(cfg.policy_path()), by=by, why=reason,
                               force=force)
    except GateFailed as exc:
        for line in exc.result.reasons:
            typer.echo(f"  {line}", err=True)
        _fail(f"{name} version {version}: {exc} (use --force --reason '...' to override)")
    except RegistryError as exc:
        _fail(str(exc))
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
        _fail(str(exc))
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
        _fail(str(exc))
    for event in events:
        if as_json:
            typer.echo(json.dumps(event, sort_keys=True))
        else:
            typer.echo(f"{event['at']}  v{event['version']:<3} {event['action']:<16} {event['alias']:<10} "
                       f"by {event['by']}: {event['why']}")


def add_registry_commands(app: typer.Typer) -> None:
    for command in (promote, rollback, history):
        app.command()(command)
