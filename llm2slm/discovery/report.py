"""The cluster report: one self-contained HTML page per run (the scatter inlined), logged to MLflow by the flow.

Per task: id, name (with its answer schema, the role its calls end with, its instruction wordings and whether a
router can tell it apart), size and share of the calls, output shape and distinct answers, keywords, exemplars and
the token-length percentiles; then the run's parameters. Nothing in it depends on the clock: the same discovery
gives the same bytes.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from llm2slm.common.files import PRIVATE_FILE, atomic_write_text
from llm2slm.discovery.catalogue import Catalogue, TaskEntry

STYLE = ("body{font-family:sans-serif;margin:1.5em;max-width:72em}table{border-collapse:collapse;margin:1em 0}"
         "td,th{border:1px solid #ccc;padding:.3em .5em;vertical-align:top;font-size:.9em}th{background:#f3f3f3}"
         "code{font-size:.9em}.muted{color:#666}")


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _tokens(task: TaskEntry) -> str:
    parts = []
    for side in ("request", "answer"):
        q = task.tokens.get(side, {})
        parts.append(f"{side} {q.get('p50', 0)} / {q.get('p90', 0)} / {q.get('p99', 0)}")
    return "<br>".join(_e(p) for p in parts)


def _structure(task: TaskEntry) -> str:
    """The answer schema, the last role, the instruction wordings and, when it is not routable, why."""
    parts = [f"{_e(task.answer_schema)}; calls end with a {_e(task.last_role)} message"] if task.answer_schema else []
    if task.instructions:
        parts.append(f"{len(task.instructions)} instruction wording(s), e.g. <code>{_e(task.instructions[0])}</code>")
    if not task.routing_safe:
        parts.append(f"<b>not routable</b>: the request alone does not tell it from "
                     f"{_e(', '.join(task.confused_with))}; it stays on the LLM")
    return "<br><span class=muted>" + "<br>".join(parts) + "</span>" if parts else ""


def task_rows(catalogue: Catalogue) -> str:
    rows = []
    for task in catalogue.tasks:
        share = task.size / max(catalogue.n_calls, 1)
        exemplars = "".join(f"<li><code>{_e(x.id)}</code> {_e(x.text)}</li>" for x in task.exemplars)
        rows.append(
            f"<tr><td><b>{_e(task.task_id)}</b></td><td>{_e(task.name)}{_structure(task)}</td>"
            f"<td>{task.size:,}<br><span class=muted>{share:.1%}</span></td>"
            f"<td>{_e(task.output_shape)}<br><span class=muted>{task.n_distinct_answers:,} distinct answers</span></td>"
            f"<td>{_e(', '.join(task.keywords))}</td><td><ul>{exemplars}</ul></td><td>{_tokens(task)}</td></tr>")
    return "\n".join(rows)


def render_report(catalogue: Catalogue, png: bytes | None) -> str:
    """The report's HTML text."""
    outliers = catalogue.n_outliers / max(catalogue.n_calls, 1)
    image = (f'<img alt="calls coloured by task" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
             if png else "")
    params = "".join(f"<tr><td><code>{_e(k)}</code></td><td>{_e(v)}</td></tr>"
                     for k, v in sorted(catalogue.params.items()))
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>llm2slm task discovery</title>"
        f"<style>{STYLE}</style></head><body>\n"
        f"<h1>Task discovery: {len(catalogue.tasks)} tasks in {catalogue.n_calls:,} calls</h1>\n"
        f"<p>{catalogue.n_outliers:,} calls ({outliers:.1%}) fit no task and stay on the LLM (<code>none</code>). "
        "Tasks are numbered once and keep their id across runs (matched by centroid); sizes are this run's.</p>\n"
        f"{image}\n<p class=muted>The calls in the first two UMAP dimensions, coloured by task (grey: none).</p>\n"
        "<h2>Tasks</h2>\n<table><tr><th>id</th><th>name</th><th>calls</th><th>output shape</th><th>keywords</th>"
        "<th>exemplars (calls nearest the centre)</th><th>tokens p50 / p90 / p99</th></tr>\n"
        f"{task_rows(catalogue)}\n</table>\n"
        f"<h2>Parameters</h2>\n<table>{params}</table>\n</body></html>\n")


def write_report(catalogue: Catalogue, png_path: Path | None, path: Path) -> None:
    png = Path(png_path).read_bytes() if png_path and Path(png_path).is_file() else None
    text = render_report(catalogue, png)
    atomic_write_text(path, text, mode=PRIVATE_FILE)  # it shows (scrubbed) example calls of each task
