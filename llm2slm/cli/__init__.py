"""The `llm2slm` command. Heavy libraries are imported inside the commands that need them, after the environment
that keeps them offline and inside the project's home folder is set (`llm2slm.cli.common.setup`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from llm2slm.cli.common import AUTH, EXIT_CODES_EPILOG, FAILED, USAGE, HomeOpt, ProjectOpt, fail, setup
from llm2slm.cli.gateway import add_gateway_command
from llm2slm.cli.keys import add_key_commands
from llm2slm.cli.platform import add_platform_commands
from llm2slm.cli.registry import add_registry_commands
from llm2slm.cli.route import add_route_commands
from llm2slm.common.config import Config

if TYPE_CHECKING:
    from llm2slm.registry.outcomes import ConversionSummary

MIN_SAMPLE = 20  # calls: fewer cannot be split into train/val/test per task
DEMO_REPLAY_SHARE = 0.3  # the latest 30% of the trace's calls are replayed through the gateway after the conversion

app = typer.Typer(
    help="llm2slm turns an agent's logged LLM calls into small specialist models.\n\n"
    "Typical use: `llm2slm ingest calls.jsonl` to add captured calls to the store, then `llm2slm convert` to "
    "curate, cluster, fine-tune, evaluate and register a specialist per discovered task. "
    "`llm2slm demo` does both on the bundled sample trace.",
    epilog=EXIT_CODES_EPILOG,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def ingest(files: Annotated[list[Path], typer.Argument(help="JSONL files of call records (.jsonl or .jsonl.gz), "
                                                     "or OTLP JSON files of OpenTelemetry GenAI spans.")],
           fmt: Annotated[str, typer.Option("--format", help="auto | jsonl | otel")] = "auto",
           project: ProjectOpt = None, home: HomeOpt = None) -> None:
    """Validate call records and append them to the encrypted store. A file with any bad record is rejected whole
    (exit 1; the other files are still read)."""
    from llm2slm.capture import IngestError, MasterKeyError, open_store

    cfg = setup(project, home)
    try:
        store = open_store(cfg)
    except MasterKeyError as exc:
        fail(str(exc), USAGE)
    failed = False
    with store:
        for path in files:
            try:
                report = store.ingest(path, fmt)
            except IngestError as exc:
                typer.echo(f"error: {exc}", err=True)
                failed = True
                continue
            typer.echo(f"{path}: {report.read} records read, {report.stored} stored, "
                       f"{report.already_stored} already in the store")
    if failed:
        raise typer.Exit(FAILED)


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

    cfg = setup(project, home)
    summary: ConversionSummary = _run_flow(cfg)
    print_summary(summary, cfg, answer_key=None)


@app.command()
def demo(sample: Annotated[Optional[int], typer.Option(help="Use a random subsample of N calls.")] = None,
         replay: Annotated[float, typer.Option(
             help="Share of the latest calls held back from the conversion and replayed through the gateway with "
                  "the champions serving (0: no replay).")] = DEMO_REPLAY_SHARE,
         project: ProjectOpt = None, home: HomeOpt = None) -> None:
    """Ingest the bundled agent trace (or a subsample) less its latest calls, run the conversion on it, then replay
    the latest calls through the gateway with each task's champion serving."""
    from llm2slm.cli.replay import print_replay, replay_later_calls
    from llm2slm.cli.summary import print_summary
    from llm2slm.sample import bundled_answer_key_path, load_answer_key
    from llm2slm.sample.ingest import ingest_sample

    cfg = setup(project, home)
    if sample is not None and sample < MIN_SAMPLE:
        fail(f"--sample {sample}: use at least {MIN_SAMPLE} calls", USAGE)
    if not 0 <= replay < 0.9:
        fail(f"--replay {replay}: use a share in [0, 0.9)", USAGE)
    message, later = ingest_sample(cfg, sample, replay_share=replay)
    typer.echo(message)
    summary = _run_flow(cfg)
    print_summary(summary, cfg, answer_key=load_answer_key(bundled_answer_key_path()))
    if later:
        print_replay(replay_later_calls(cfg, summary, later))


@app.command()
def retrain(project: ProjectOpt = None, home: HomeOpt = None) -> None:
    """Run the retrain flow (S6) on the calls captured since the last run: measure drift, find new tasks, retrain
    only what changed, and print the run report (docs/retrain.md)."""
    from llm2slm.common.artifacts import Artifacts
    from llm2slm.retraining.report import markdown

    cfg = setup(project, home)
    assigner = Artifacts(cfg.paths).assigner_index
    if not assigner.is_file():
        fail(f"no conversion to retrain: {assigner} does not exist; run `llm2slm convert` (or `llm2slm demo`) "
             "first", USAGE)
    report = _run_flow(cfg, "retrain")
    typer.echo(markdown(report, cfg.retrain))


def _run_flow(cfg: Config, name: str = "convert"):
    """Run the conversion flow (or the retrain flow) against a Prefect API server this command owns (it ends with
    the command, even on SIGKILL); SIGTERM and SIGHUP stop the run like Ctrl-C (exit 130)."""
    from llm2slm.capture import MasterKeyError, open_store
    from llm2slm.cli.processes import interrupts_raise, prefect_api

    try:
        with open_store(cfg) as store:
            empty = store.count() == 0
    except MasterKeyError as exc:
        fail(str(exc), USAGE)
    if empty:
        fail(f"the call store {cfg.paths.store} is empty: run `llm2slm ingest FILE.jsonl` first", USAGE)
    with interrupts_raise(), prefect_api(cfg.prefect_api_url) as api:
        if name == "retrain":
            from flows.retrain import retrain as run_flow  # imports Prefect while its server starts
        else:
            from flows.convert import convert as run_flow

        try:
            api.ready()
        except RuntimeError as exc:
            fail(f"the Prefect API server did not start: {exc}", FAILED)
        try:
            return run_flow(project_dir=str(cfg.paths.project), home=str(cfg.paths.home))
        except Exception as exc:  # noqa: BLE001 (Prefect has logged the failing task with its traceback)
            fail(f"the {'retrain' if name == 'retrain' else 'conversion'} failed: {type(exc).__name__}: {exc}",
                 FAILED)
        finally:
            ray = sys.modules.get("ray")
            if ray is not None and ray.is_initialized():
                ray.shutdown()


@app.command()
def stage(name: Annotated[str, typer.Argument(help="export | curate | cluster | split")],
          project: ProjectOpt = None, home: HomeOpt = None) -> None:
    """Run one data stage on its own (what `dvc repro` calls); same code as the flow's stage."""
    from llm2slm.capture.export import WindowChangedError
    from llm2slm.capture.keys import AuthError
    from tasks import run_data_stage

    cfg = setup(project, home)
    try:
        typer.echo(run_data_stage(name, cfg))
    except ValueError as exc:  # an unknown stage, named with the valid ones
        fail(str(exc), USAGE)
    except (FileNotFoundError, WindowChangedError) as exc:  # an input missing, or the store changed since export
        fail(str(exc), FAILED)
    except AuthError as exc:
        fail(f"{exc.status}: {exc.message}", AUTH)


@app.command()
def ui(project: ProjectOpt = None, home: HomeOpt = None,
       mlflow_port: Annotated[int, typer.Option(help="Port of the MLflow UI on 127.0.0.1.")] = 5000,
       prefect_port: Annotated[int, typer.Option(help="Port of the Prefect UI on 127.0.0.1.")] = 4200) -> None:
    """Start the MLflow UI and the Prefect UI on 127.0.0.1 (Ctrl-C or SIGTERM stops both)."""
    from llm2slm.cli.ui import serve_uis

    cfg = setup(project, home)
    serve_uis(cfg, mlflow_port, prefect_port)


add_registry_commands(app)
add_route_commands(app)
add_gateway_command(app)
add_key_commands(app)
add_platform_commands(app)


def main() -> None:
    """The console script: exits with the status of the exit-code policy (`llm2slm --help`); SIGTERM and SIGHUP
    stop a command like Ctrl-C (its `finally` blocks run, exit 130)."""
    from llm2slm.cli.processes import interrupts_raise

    with interrupts_raise():
        app()


if __name__ == "__main__":
    main()
