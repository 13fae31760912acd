"""What the convert and demo commands print: one table of tasks, and where to look next."""

from __future__ import annotations

import json

import typer

from llm2slm.common.config import Config

COLUMNS = ("task", "name", "calls", "shape", "model", "agreement", "latency/call", "version", "aliases")


def _fmt(value: float | None, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def summary_rows(summary) -> list[tuple[str, ...]]:
    rows = []
    for o in summary.outcomes:
        model = o.candidate or ("LLM (kept)" if o.decision == "llm" else o.decision)
        rows.append((o.task_id, o.name[:28], str(o.calls), o.output_shape, model, _fmt(o.agreement, "{:.1%}"),
                     _fmt(o.latency_ms_p50, "{:.1f} ms"), o.version or "-", ",".join(o.aliases) or "-"))
    return rows


def render_table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(COLUMNS)]
    line = "  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True))
    body = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join([line, "  ".join("-" * w for w in widths), *body])


def print_summary(summary, cfg: Config, answer_key: dict[str, str] | None) -> None:
    data = cfg.paths.data_dir
    typer.echo("")
    typer.echo(f"calls: {summary.n_calls} captured, {summary.n_curated} after curation; "
               f"{summary.n_tasks} tasks discovered, {summary.n_outliers} calls left to the LLM as outliers")
    if answer_key:
        from tasks.cluster import adjusted_rand

        ari = adjusted_rand(data / "assignments.parquet", answer_key)
        typer.echo(f"task discovery vs the answer key: adjusted Rand index {ari:.3f}")
    typer.echo("")
    typer.echo(render_table(summary_rows(summary)))
    for o in summary.outcomes:
        if o.error:
            typer.echo(f"  {o.task_id} failed: {o.error}")
        elif o.decision == "llm":
            typer.echo(f"  {o.task_id} stays on the LLM: {'; '.join(o.reasons)}")
    out = cfg.paths.runs_dir / "last_summary.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary.model_dump(mode="json"), indent=2) + "\n")
    typer.echo("")
    typer.echo(f"datasets (DVC-versioned): {data}   summary: {out}")
    typer.echo(f"MLflow store: {cfg.mlflow_tracking_uri}   Prefect home: {cfg.paths.prefect_home}")
    typer.echo("open the UIs: `make ui`, then MLflow at http://127.0.0.1:5000 and Prefect at http://127.0.0.1:4200")
