"""The per-task evaluation report: a Markdown page and a PNG comparing each evaluated candidate with the LLM.

Written next to the run's other outputs and logged to MLflow on the task's `report` run (tasks/track.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llm2slm.common.files import PRIVATE_FILE, atomic_path, atomic_write_text
from llm2slm.evaluation.deferral_report import deferral_lines

QUALITY_ORDER = ("agreement", "agreement_non_majority", "accuracy", "macro_f1", "json_valid", "field_f1",
                 "decision_accuracy", "function_name_accuracy", "argument_exact_match", "argument_accuracy",
                 "tool_call_valid", "text_rouge_l", "text_similarity", "rouge_l")


def _fmt(value: Any, pattern: str = "{:.3f}") -> str:
    return "-" if value is None else pattern.format(value)


def quality_names(evaluations: Sequence[Any]) -> list[str]:
    present = {k for e in evaluations for k in e.metrics}
    return [name for name in QUALITY_ORDER if name in present]


def quality_rows(evaluations: Sequence[Any], quality: list[str]) -> list[str]:
    """Per candidate a row on the scrubbed test calls, then one on the same calls as captured when measured."""
    lines = []
    for e in evaluations:
        lines.append(f"| {e.candidate} | " + " | ".join(_fmt(e.metrics.get(q)) for q in quality) + " |")
        if e.raw_metrics:
            lines.append(f"| {e.candidate} (raw) | " + " | ".join(_fmt(e.raw_metrics.get(q)) for q in quality) + " |")
    return lines


def raw_note(evaluations: Sequence[Any]) -> str:
    """What the `(raw)` rows are, or why there are none."""
    skipped = [e for e in evaluations if not e.raw_metrics]
    if not skipped:
        return ("Rows `(raw)`: the same test calls as captured, unscrubbed (real names and places, what the router "
                "will see), read from the call store; the reference is the LLM's captured answer.")
    reasons = "; ".join(sorted({e.raw_skipped or "not measured" for e in skipped}))
    return f"No figure on the test calls as captured for {', '.join(str(e.candidate) for e in skipped)}: {reasons}."


def tool_call_lines(evaluations: Sequence[Any]) -> list[str]:
    """For a tool_call task, the calls each figure is taken over, per candidate (scrubbed test calls); else []."""
    with_counts = [e for e in evaluations if "n_tool_calls" in e.metrics]
    if not with_counts:
        return []
    lines = ["Tool calls and text replies (scrubbed test calls): `decision_accuracy` over all calls; the name and "
             "argument figures over the calls the LLM answered with tool calls (a text reply scores 0); "
             "`tool_call_valid` over the candidate's tool-call answers; `text_*` over the calls the LLM answered "
             "with text (a tool-call answer scores 0).", "",
             "| candidate | calls | LLM tool calls | LLM arguments | LLM text replies | candidate tool calls |",
             "|---|---|---|---|---|---|"]
    for e in with_counts:
        m = e.metrics
        lines.append(f"| {e.candidate} | {m.get('n_calls', 0):.0f} | {m.get('n_tool_calls', 0):.0f} | "
                     f"{m.get('n_arguments', 0):.0f} | {m.get('n_text', 0):.0f} | "
                     f"{m.get('n_predicted_tool_calls', 0):.0f} |")
    return [*lines, ""]


def render_markdown(task_id: str, task_name: str, evaluations: Sequence[Any], chosen: str | None,
                    gate_metric: str) -> str:
    quality = quality_names(evaluations)
    first = evaluations[0]
    lines = [f"# Task {task_id}: {task_name}", "",
             f"Output shape `{first.output_shape}`; {first.n_test} held-out test calls; the LLM's answers are the "
             f"reference. Gate metric for this shape: `{gate_metric}`. Registered: `{chosen or 'none'}`.", "",
             "![quality, latency and cost](report.png)", "", "## Quality against the LLM", "",
             "| candidate | " + " | ".join(quality) + " |", "|---" * (len(quality) + 1) + "|"]
    lines += quality_rows(evaluations, quality)
    lines += ["", "`agreement_non_majority`: agreement on the calls whose LLM answer is not the task's most frequent "
              "one.", "", *tool_call_lines(evaluations), raw_note(evaluations), "", *deferral_lines(evaluations),
              "## Speed and cost on this machine", "",
              "| candidate | latency p50 (ms) | latency p95 (ms) | calls/s | cost / 1k calls (USD) | LLM cost / 1k "
              "calls (USD) | saving |", "|---|---|---|---|---|---|---|"]
    for e in evaluations:
        m = e.metrics
        saving = 1 - m["cost_per_1k_specialist_usd"] / m["cost_per_1k_llm_usd"] if m["cost_per_1k_llm_usd"] else None
        lines.append(f"| {e.candidate} | {m['latency_ms_p50']:.1f} | {m['latency_ms_p95']:.1f} | "
                     f"{m['calls_per_s']:.1f} | {m['cost_per_1k_specialist_usd']:.5f} | "
                     f"{m['cost_per_1k_llm_usd']:.4f} | {_fmt(saving, '{:.1%}')} |")
    lines += ["", f"LLM cost from {first.usage_source} token usage and the prices in `evaluate.llm_prices`; "
              "specialist cost = time per call at batch throughput x cores x `evaluate.cpu_hour_usd`.", "",
              "## Examples (LLM, then specialist; scrubbed calls)", ""]
    for e in evaluations:
        lines.append(f"**{e.candidate}**")
        lines.append("")
        for example in e.examples[:3]:
            lines.append(f"- `{example['llm'][:160]}` / `{example['specialist'][:160]}`")
        lines.append("")
    return "\n".join(lines)


def plot_report(task_id: str, evaluations: Sequence[Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    quality = quality_names(evaluations)
    names = [e.candidate for e in evaluations]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), dpi=100)
    try:
        width = 0.8 / max(1, len(evaluations))
        x = np.arange(len(quality))
        for i, e in enumerate(evaluations):
            axes[0].bar(x + i * width, [e.metrics.get(q, 0.0) for q in quality], width, label=e.candidate)
        axes[0].set_xticks(x + width * (len(evaluations) - 1) / 2, quality, rotation=30, ha="right", fontsize=7)
        axes[0].set_ylim(0, 1.05)
        axes[0].set_title("quality vs the LLM", fontsize=9)
        axes[0].legend(fontsize=6)
        y = np.arange(len(names))
        axes[1].barh(y - 0.2, [e.metrics["latency_ms_p50"] for e in evaluations], 0.4, label="p50")
        axes[1].barh(y + 0.2, [e.metrics["latency_ms_p95"] for e in evaluations], 0.4, label="p95")
        axes[1].set_yticks(y, names, fontsize=7)
        axes[1].set_xlabel("ms per call (batch of one)", fontsize=8)
        axes[1].set_title("latency", fontsize=9)
        axes[1].legend(fontsize=6)
        costs = [evaluations[0].metrics["cost_per_1k_llm_usd"]] + [e.metrics["cost_per_1k_specialist_usd"]
                                                                   for e in evaluations]
        axes[2].bar(["LLM", *names], costs, color=["#999999"] + ["C0"] * len(names))
        axes[2].set_yscale("log")
        axes[2].set_ylabel("USD per 1,000 calls (log)", fontsize=8)
        axes[2].set_title("cost", fontsize=9)
        axes[2].tick_params(axis="x", labelsize=7, rotation=20)
        fig.suptitle(f"{task_id}", fontsize=10)
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", metadata={"Software": None})
    finally:
        plt.close(fig)


def write_report(task_id: str, task_name: str, evaluations: Sequence[Any], chosen: str | None, gate_metric: str,
                 out_dir: Path) -> tuple[Path, Path]:
    """Write `<out_dir>/report.md` and `<out_dir>/report.png`; returns both paths."""
    if not evaluations:
        raise ValueError(f"task {task_id}: no evaluation to report")
    markdown, png = Path(out_dir) / "report.md", Path(out_dir) / "report.png"
    text = render_markdown(task_id, task_name, evaluations, chosen, gate_metric)
    atomic_write_text(markdown, text + "\n", mode=PRIVATE_FILE)  # its examples are (scrubbed) captured answers
    plot_report(task_id, evaluations, png)
    return markdown, png
