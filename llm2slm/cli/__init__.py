"""The `llm2slm` command. Heavy libraries are imported inside the commands that need them, after the environment
that keeps them offline and inside the project's home folder is set."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from llm2slm.cli.gateway import add_gateway_command
from llm2slm.cli.keys import add_key_commands
from llm2slm.cli.registry import add_registry_commands
from llm2slm.common.config import Config, ConfigError, load_config
from llm2slm.common.env import prepare_environment

app = typer.Typer(
    help="llm2slm turns an agent's logged LLM calls into small specialist models.\n\n"
    "Typical use: `llm2slm ingest calls.jsonl` to add captured calls to the store, then `llm2slm convert` to "
    "curate, cluster, fine-tune, evaluate and register a specialist per discovered task. "
    "`llm2slm demo` does both on the bundled sample trace.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
ProjectOpt = Annotated[Optional[Path], typer.Option("--project", help="Project folder (holds params.yaml).")]
HomeOpt = Annotated[Optional[Path], typer.Option("--home", help="Folder for everything a run writes "
                                                 "(default: <project>/.llm2slm, or $LLM2SLM_HOME).")]


def _setup(project: Path | None, home: Path | None) -> Config:
    try:
        cfg = load_config(project, home)
    except ConfigError as exc:
        _fail(str(exc))
    prepare_environment(cfg)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for noisy in ("httpx", "urllib3", "filelock", "numba", "alembic", "mlflow", "prefect", "ray"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return cfg


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@app.command()
def ingest(files: Annotated[list[Path], typer.Argument(help="JSONL files of call records (.jsonl or .jsonl.gz), "
                                                     "or OTLP JSON files of OpenTelemetry GenAI spans.")],
           fmt: Annotated[str, typer.Option("--format", help="auto | jsonl | otel")] = "auto",
           project: ProjectOpt = None, home: HomeOpt = None) -> None:
    """Validate call records and append them to the encrypted store. A file with any bad record is rejected whole."""
    from llm2slm.capture import IngestError, MasterKeyError, open_store

    cfg = _setup(project, home)
    try:
        store = open_store(cfg)
    except MasterKeyError as exc:
        _fail(str(exc))
    failed = False
    for path in files:
        try:
            report = store.ingest(path, fmt)
        except IngestError as exc:
            typer.echo(f"error: {exc}", err=True)
            failed = True
            continue
        typer.echo(f"{path}: {report.read} records read, {report.stored} stored, "
                   f"{report.already_stored} already in the store")
    store.close()
    if failed:
        raise typer.Exit(1)


@app.command()
def schema(out: Annotated[Path, typer.Option(help="Where to write the JSON schema.")] = Path(
        "docs/call_record.schema.json")) -> None:
    """Write the JSON schema of the call record."""
    from llm2slm.common.schema import json_schema

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(json_schema(), indent=2, sort_keys=True) + "\n")
    typer.echo(f"wrote {out}")


@app.command()
def convert(project: ProjectOpt = None, home: HomeOpt = None) -> None:
    """Run the conversion flow on every call in the store and print the result table."""
    from llm2slm.cli.summary import print_summary

    cfg = _setup(project, home)
    summary = _run_flow(cfg)
    print_summary(summary, cfg, answer_key=None)


@app.command()
def demo(sample: Annotated[Optional[int], typer.Option(help="Use a random subsample of N calls.")] = None,
         project: ProjectOpt = None, home: HomeOpt = None) -> None:
    """Ingest the bundled agent trace (or a subsample) and run the conversion on it."""
    from llm2slm.sample.ingest import ingest_sample
    from llm2slm.cli.summary import print_summary
    from llm2slm.sample import bundled_answer_key_path, load_answer_key

    cfg = _setup(project, home)
    if sample is not None and sample < 20:
        _fail(f"--sample {sample}: use at least 20 calls")
    typer.echo(ingest_sample(cfg, sample))
    summary = _run_flow(cfg)
    print_summary(summary, cfg, answer_key=load_answer_key(bundled_answer_key_path()))


def _run_flow(cfg: Config):
    from flows.convert import convert as convert_flow
    from llm2slm.capture import MasterKeyError, open_store

    try:
        empty = open_store(cfg).count() == 0
    except MasterKeyError as exc:
        _fail(str(exc))
    if empty:
        _fail(f"the call store {cfg.paths.store} is empty: run `llm2slm ingest FILE.jsonl` first")
    try:
        return convert_flow(project_dir=str(cfg.paths.project), home=str(cfg.paths.home))
    finally:
        ray = sys.modules.get("ray")
        if ray is not None and ray.is_initialized():
            ray.shutdown()


@app.command()
def stage(name: Annotated[str, typer.Argument(help="export | curate | cluster | split")],
          project: ProjectOpt = None, home: HomeOpt = None) -> None:
    """Run one data stage on its own (what `dvc repro` calls); same code as the flow's stage."""
    from llm2slm.capture.keys import AuthError
    from tasks import run_stage

    cfg = _setup(project, home)
    try:
        typer.echo(run_stage(name, cfg))
    except (ValueError, FileNotFoundError, AuthError) as exc:
        _fail(str(exc), 1)


@app.command()
def ui(project: ProjectOpt = None, home: HomeOpt = None,
       mlflow_port: int = 5000, prefect_port: int = 4200) -> None:
    """Start the MLflow UI and the Prefect UI on 127.0.0.1 (Ctrl-C stops both)."""
    from llm2slm.cli.ui import serve_uis

    cfg = _setup(project, home)
    serve_uis(cfg, mlflow_port, prefect_port)


add_registry_commands(app)
add_gateway_command(app)
add_key_commands(app)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
