"""What the convert and demo commands print: one table of tasks, and where to look next.

The table is a rich table: on a terminal it fits the window; on a pipe or in CI it has no colour codes and no
column is cut (`llm2slm.cli.common.console`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from llm2slm.cli.common import print_table, table, text_cells
from llm2slm.common.config import Config

if TYPE_CHECKING:
    from llm2slm.registry.outcomes import ConversionSummary

# agreement with the LLM on the scrubbed test calls, then on the same calls as captured (what the router will see)
COLUMNS = ("task", "name", "calls", "shape", "model", "agreement", "agreement raw", "latency/call", "version",
           "aliases")
NAME_CHARS = 56  # a task's name is cut to this many characters in the table


def _fmt(value: float | None, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def summary_rows(summary: "ConversionSummary") -> list[tuple[str, ...]]:
    """One row of strings per task, in COLUMNS order."""
    rows = []
    for o in summary.outcomes:
        model = o.candidate or ("LLM (kept)" if o.decision == "llm" else o.decision)
        rows.append((o.task_id, o.name[:NAME_CHARS], str(o.calls), o.output_shape, model,
                     _fmt(o.agreement, "{:.1%}"), _fmt(o.raw_agreement, "{:.1%}"),
                     _fmt(o.latency_ms_p50, "{:.1f} ms"), o.version or "-", ",".join(o.aliases) or "-"))
    return rows


def print_task_table(rows: list[tuple[str, ...]]) -> None:
    grid = table(*COLUMNS)
    for column in ("calls", "agreement", "agreement raw", "latency/call"):
        grid.columns[COLUMNS.index(column)].justify = "right"
    for row in rows:
        grid.add_row(*text_cells(*row))
    print_table(grid)


def print_summary(summary: "ConversionSummary", cfg: Config, answer_key: dict[str, str] | None) -> None:
    """Print the conversion's figures, the task table and where its outputs are; write the summary as JSON."""
    from llm2slm.common.artifacts import Artifacts
    from llm2slm.common.files import write_json

    art = Artifacts(cfg.paths)
    typer.echo("")
    typer.echo(f"calls: {summary.n_calls} captured, {summary.n_curated} after curation; "
               f"{summary.n_tasks} tasks discovered, {summary.n_outliers} calls left to the LLM as outliers")
    if summary.reused:
        typer.echo(f"reused from an earlier run (same inputs, configuration and code): {', '.join(summary.reused)}")
    if answer_key:
        from llm2slm.discovery.score import adjusted_rand

        ari = adjusted_rand(art.assignments, answer_key)
        typer.echo(f"task discovery vs the answer key: adjusted Rand index {ari:.3f}")
    typer.echo("")
    print_task_table(summary_rows(summary))
    for o in summary.outcomes:
        if o.error:
            typer.echo(f"  {o.task_id} failed: {o.error}")
        elif o.decision == "llm":
            typer.echo(f"  {o.task_id} stays on the LLM: {'; '.join(o.reasons)}")
        for note in o.notes:
            typer.echo(f"  {o.task_id} ({o.candidate}): {note}")
    out = art.last_summary
    write_json(out, summary.model_dump(mode="json"))
    typer.echo("")
    versioned = "DVC-versioned" if cfg.paths.dvc_versioned else "not versioned: the home is not params.yaml's"
    typer.echo(f"datasets ({versioned}): {cfg.paths.data_dir}   summary: {out}")
    typer.echo(f"MLflow store: {cfg.mlflow_tracking_uri}   Prefect home: {cfg.paths.prefect_home}")
    typer.echo("open the UIs: `make ui` (or `llm2slm ui`), then MLflow at http://127.0.0.1:5000 and Prefect at "
               "http://127.0.0.1:4200")
