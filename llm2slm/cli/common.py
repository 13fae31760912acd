"""What every `llm2slm` command shares: the `--project`/`--home` options, setup, errors and exit codes, output.

Every command module imports from here (never a private name of `llm2slm.cli`). Only typer and the configuration
are imported at module level: `llm2slm --help` stays fast; rich is imported when a table is printed.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, Optional

import typer

from llm2slm.common.config import Config, ConfigError, load_config
from llm2slm.common.env import prepare_environment

if TYPE_CHECKING:
    from pydantic import ValidationError
    from rich.console import Console
    from rich.table import Table

# The exit-code policy, one for every command (shown at the end of `llm2slm --help`).
OK = 0  # the command did what it was asked
FAILED = 1  # it ran and failed: a gate failed, a stage failed, a bad input file, an unknown version or key
USAGE = 2  # it could not start: a bad option, an invalid params.yaml, an empty store, a missing master key
AUTH = 3  # an API key was refused (401 or 403)
INTERRUPTED = 130  # stopped by Ctrl-C, SIGTERM or SIGHUP (its child processes are stopped too)

EXIT_CODES_EPILOG = (
    "Exit status: 0 success; 1 the command ran and failed (gate failed, stage failed, bad input file, unknown "
    "version or key); 2 usage or configuration error (bad option, invalid params.yaml, empty store, missing "
    "master key); 3 API key refused (401/403); 130 interrupted (Ctrl-C, SIGTERM, SIGHUP)."
)

ProjectOpt = Annotated[Optional[Path], typer.Option(
    "--project", help="Project folder, the one holding params.yaml (default: the nearest such folder at or above "
    "the current one).", show_default=False)]
HomeOpt = Annotated[Optional[Path], typer.Option(
    "--home", help="Folder for everything a run writes (default: $LLM2SLM_HOME, else params.yaml's `home`, else "
    "<project>/.llm2slm).", show_default=False)]

# loggers that say too much at INFO while a conversion runs
NOISY_LOGGERS = ("httpx", "urllib3", "filelock", "numba", "alembic", "mlflow", "prefect", "ray", "dvc",
                 "presidio-analyzer", "sentence_transformers", "matplotlib")
WIDE_CONSOLE = 1000  # characters: a table printed to a pipe or a file is never cut or wrapped


def fail(message: str, code: int = USAGE) -> NoReturn:
    """Print `error: message` on stderr and exit with `code` (see the policy above)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def fail_invalid(what: str, exc: "ValidationError", code: int = USAGE) -> NoReturn:
    """Exit naming each invalid field of a pydantic error: `invalid <what>: field: message; ...`."""
    from llm2slm.common.errors import describe_validation_error

    fail(f"invalid {what}: {describe_validation_error(exc)}", code)


def setup_logging() -> None:
    """INFO lines on stderr as `HH:MM:SS logger: message`; the chatty libraries at WARNING."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)


def setup(project: Path | None, home: Path | None) -> Config:
    """Load and validate the configuration (exit 2 naming the bad field), set the environment that keeps every
    tool offline and inside the home folder, and set up logging. Call it before importing Prefect, MLflow or
    Ray: some read their settings at import time."""
    try:
        cfg = load_config(project, home)
    except ConfigError as exc:
        fail(str(exc), USAGE)
    prepare_environment(cfg)
    setup_logging()
    return cfg


def console() -> "Console":
    """A rich console on the current stdout: colours and the terminal's width on a terminal; no colour codes and
    a wide line (nothing truncated or wrapped) on a pipe, a file or in CI."""
    from rich.console import Console

    out = sys.stdout
    if out.isatty():
        return Console(file=out, highlight=False)
    return Console(file=out, width=WIDE_CONSOLE, color_system=None, force_terminal=False, highlight=False,
                   emoji=False, soft_wrap=False)


def table(*columns: str, title: str | None = None) -> "Table":
    """A plain table with these column headers; add rows of strings with `add_row`, print with `print_table`."""
    from rich import box
    from rich.table import Table

    return Table(*columns, title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                 header_style="bold", title_justify="left")


def print_table(grid: "Table") -> None:
    """Print `grid` on stdout; cell text is printed as it is (a `[` in a task name is not rich markup)."""
    console().print(grid)


def text_cells(*values: object) -> list:
    """Row cells that rich prints literally (no markup, no emoji codes)."""
    from rich.text import Text

    return [Text(str(v)) for v in values]
