"""`llm2slm keys create|list|revoke|rotate-master` and `llm2slm export`: API keys, the master key, snapshots.

`keys` commands need an admin key (--api-key or $LLM2SLM_API_KEY); the one exception is the first admin:
`llm2slm keys create --name ops --role admin` works without a key while the keyring holds no active admin key.
`export` needs a curator key. A refused key exits with status 3 (`AUTH`) and says why (401 or 403).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer

from llm2slm.cli.common import AUTH, FAILED, USAGE, HomeOpt, ProjectOpt, fail, print_table, setup, table, text_cells
from llm2slm.common.config import Config

ApiKeyOpt = Annotated[Optional[str], typer.Option("--api-key", help="Your API key (default: $LLM2SLM_API_KEY).",
                                                  show_default=False)]

keys_app = typer.Typer(help="Manage API keys (roles agent, curator, admin, release) and the store's master key.",
                       no_args_is_help=True)


def _admin(cfg: Config, api_key: str | None, allow_first_admin: bool = False) -> str:
    """The acting admin's name; 'bootstrap' for the first admin key. Exits on a refused key."""
    from llm2slm.capture.keys import AuthError, Role
    from llm2slm.capture.local import caller_token, open_keyring

    keyring = open_keyring(cfg)
    token = caller_token(cfg, api_key)
    if token is None and allow_first_admin and not keyring.has_active(Role.ADMIN):
        return "bootstrap"
    try:
        return keyring.require(token, Role.ADMIN).name
    except AuthError as exc:
        hint = "" if token else " (pass --api-key or set $" + cfg.capture.api_key_env + ")"
        fail(f"{exc.status}: {exc.message}{hint}", AUTH)
    return ""


@keys_app.command("create")
def create(name: Annotated[str, typer.Option("--name", help="Who or what holds the key, e.g. support-agent.")],
           role: Annotated[str, typer.Option("--role", help="agent | curator | admin | release")],
           api_key: ApiKeyOpt = None, project: ProjectOpt = None, home: HomeOpt = None) -> None:
    """Create a key and print its token once (only its hash is kept)."""
    from llm2slm.capture.keys import Role
    from llm2slm.capture.local import open_keyring

    cfg = setup(project, home)
    try:
        wanted = Role(role)
    except ValueError:
        fail(f"--role {role!r}: expected agent, curator, admin or release", USAGE)
    actor = _admin(cfg, api_key, allow_first_admin=wanted is Role.ADMIN)
    token = open_keyring(cfg).create(name, wanted)
    typer.echo(token)
    typer.echo(f"created {wanted.value} key {token.split('_')[1]} ({name}) by {actor}; the token is shown only "
               "this once", err=True)


@keys_app.command("list")
def list_keys(as_json: Annotated[bool, typer.Option("--json", help="One JSON object per key.")] = False,
              api_key: ApiKeyOpt = None, project: ProjectOpt = None, home: HomeOpt = None) -> None:
    """List the keys: id, name, role, created, revoked (never a secret)."""
    from llm2slm.capture.keys import key_info_dict
    from llm2slm.capture.local import open_keyring

    cfg = setup(project, home)
    _admin(cfg, api_key)
    keys = open_keyring(cfg).list()
    if as_json:
        for info in keys:
            typer.echo(json.dumps(key_info_dict(info)))
        return
    grid = table("id", "role", "name", "created", "state")
    for info in keys:
        grid.add_row(*text_cells(info.key_id, info.role.value, info.name, info.created,
                                 f"revoked {info.revoked}" if info.revoked else "active"))
    print_table(grid)


@keys_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key id (the part after l2s_ in the token).")],
           api_key: ApiKeyOpt = None, project: ProjectOpt = None, home: HomeOpt = None) -> None:
    """Revoke a key: requests with it get 401 from now on (a running gateway re-reads the keyring)."""
    from llm2slm.capture.keys import KeyNotFound
    from llm2slm.capture.local import open_keyring

    cfg = setup(project, home)
    actor = _admin(cfg, api_key)
    try:
        open_keyring(cfg).revoke(key_id)
    except KeyNotFound as exc:
        fail(str(exc), FAILED)
    typer.echo(f"revoked {key_id} (by {actor})")


@keys_app.command("rotate-master")
def rotate_master(
        new_key_file: Annotated[Optional[Path], typer.Option(
            "--new-key-file", help="File holding the new master key (base64), or where to write a generated one. "
            "Required when the current key comes from the environment variable.")] = None,
        api_key: ApiKeyOpt = None, project: ProjectOpt = None, home: HomeOpt = None) -> None:
    """Re-wrap every data key and the pseudonym key under a new master key; the data files are not rewritten."""
    from llm2slm.capture.local import rotate_master_key
    from llm2slm.capture import MasterKeyError

    cfg = setup(project, home)
    actor = _admin(cfg, api_key)
    try:
        store, new_key, where = rotate_master_key(cfg, new_key_file)
    except MasterKeyError as exc:
        fail(str(exc), FAILED)
    typer.echo(f"re-wrapped the store at {store.root} under master key {new_key.fingerprint} (by {actor}); "
               f"the key is in {where}")
    if new_key_file is not None:
        typer.echo(f"now set ${cfg.capture.master_key_env} to the content of {where} wherever the store is opened",
                   err=True)


def _when(value: Optional[str], option: str) -> Optional[datetime]:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option} {value!r}: expected an ISO 8601 date or time, e.g. 2026-10-01 or 2026-10-01T12:00:00Z",
             USAGE)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def export(out: Annotated[Path, typer.Option("--out", help="The Parquet file to write.")],
           since: Annotated[Optional[str], typer.Option(help="First timestamp included (ISO 8601, UTC if no "
                                                        "zone).")] = None,
           until: Annotated[Optional[str], typer.Option(help="First timestamp excluded.")] = None,
           api_key: ApiKeyOpt = None, project: ProjectOpt = None, home: HomeOpt = None) -> None:
    """Write the calls with since <= timestamp < until as a Parquet snapshot, each scrubbed under `curate.policy`
    (needs a curator key)."""
    from llm2slm.capture.keys import AuthError, Role
    from llm2slm.capture.local import caller_token, open_keyring
    from llm2slm.capture import MasterKeyError, open_store
    from llm2slm.capture.export import export_records

    cfg = setup(project, home)
    start, end = _when(since, "--since"), _when(until, "--until")
    token = caller_token(cfg, api_key)
    try:
        principal = open_keyring(cfg).require(token, Role.CURATOR)
    except AuthError as exc:
        hint = "" if token else f" (pass --api-key or set ${cfg.capture.api_key_env} to a curator key)"
        fail(f"{exc.status}: {exc.message}{hint}", AUTH)
    from llm2slm.curation.scrub import Scrubber

    scrubber = Scrubber(cfg.curate)
    try:
        info = export_records(open_store(cfg), principal, out, lambda r: scrubber.call().record(r), start, end)
    except (MasterKeyError, ValueError) as exc:
        fail(str(exc), FAILED)
    typer.echo(f"exported {info.n_calls} scrubbed calls ({info.first} .. {info.last}) to {info.path}")


def add_key_commands(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
    app.command("export")(export)
