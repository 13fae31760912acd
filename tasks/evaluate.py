"""Stage: measure a specialist against the LLM on the task's held-out calls, by output shape.

Quality: agreement with the LLM (llm2slm.evaluation.agreement) plus the shape's own figures (llm2slm.evaluation.metrics).
Speed on this machine: single-call latency p50/p95 (batch of one) and calls/s at batch throughput.
Cost per 1,000 calls: the LLM's from its logged token usage, the specialist's from its measured time
(llm2slm.evaluation.costs). `write_task_report` turns a task's evaluations into a Markdown page and a PNG.
"""

from __future__ import annotations

import logging
import os
import random
import time
from pathlib import Path

import numpy as np
from prefect import task
from pydantic import BaseModel

from llm2slm.common.config import EvaluateConfig
from llm2slm.evaluation.costs import llm_cost_per_1k, logged_usage, specialist_cost_per_1k
from llm2slm.evaluation.report import write_report
from llm2slm.evaluation.metrics import shape_metrics
from tasks.split import read_split

log = logging.getLogger("llm2slm.evaluate")


class Evaluation(BaseModel):
    task_id: str
    candidate: str | None = None
    output_shape: str
    n_test: int
    metrics: dict[str, float]  # quality, latency_ms_p50/p95, calls_per_s, cost_per_1k_{llm,specialist}_usd
    usage_source: str  # where the LLM's token counts come from: logged, estimated or mixed
    examples: list[dict]  # a few (LLM answer, specialist answer) pairs for the report

    @property
    def agreement(self) -> float:
        return self.metrics["agreement"]

    @property
    def latency_ms_p50(self) -> float:
        return self.metrics["latency_ms_p50"]


def _sample(rows: list[dict], limit: int, seed: int = 0) -> list[dict]:
    if len(rows) <= limit:
        return rows
    return random.Random(seed).sample(rows, limit)


def _timings(specialist, rows: list[dict], n_single: int) -> dict[str, float]:
    """Latency of single calls answered alone (batch of one), ms."""
    single = []
    for row in rows[:n_single]:
        started = time.perf_counter()
        specialist.predict_rows([row])
        single.append((time.perf_counter() - started) * 1000.0)
    return {"latency_ms_p50": float(np.percentile(single, 50)), "latency_ms_p95": float(np.percentile(single, 95))}


# the figures of each output shape worth a line in the log (all of them are in the report and in MLflow)
SHAPE_FIGURES = ("accuracy", "macro_f1", "json_valid", "field_f1", "function_name_accuracy", "argument_exact_match",
                 "rouge_l")


@task(name="evaluate")
def evaluate_specialist(task_id: str, model_dir: Path, task_dir: Path, shape: str, cfg: EvaluateConfig,
                        curated: Path | None = None, candidate: str | None = None) -> Evaluation:
    """Score the specialist in `model_dir` on the task's test split; `curated` holds the calls' logged usage."""
    from llm2slm.serving.specialist import Specialist

    rows = _sample(read_split(task_dir, "test"), cfg.max_test_calls) if (task_dir / "test.jsonl").is_file() else []
    if not rows:
        raise ValueError(f"task {task_id} has no test calls in {task_dir}")
    specialist = Specialist.load(model_dir)
    started = time.perf_counter()
    predicted = specialist.predict_rows(rows)
    seconds_per_call = (time.perf_counter() - started) / len(rows)
    reference = [row["answer"] for row in rows]
    metrics = shape_metrics(shape, predicted, reference)
    metrics.update(_timings(specialist, rows, cfg.latency_calls))
    metrics["calls_per_s"] = 1.0 / seconds_per_call if seconds_per_call > 0 else 0.0
    llm_cost, source = llm_cost_per_1k(rows, logged_usage(curated, {r["id"] for r in rows}), cfg.llm_prices)
    metrics["cost_per_1k_llm_usd"] = llm_cost
    metrics["cost_per_1k_specialist_usd"] = specialist_cost_per_1k(seconds_per_call, os.cpu_count() or 1,
                                                                   cfg.cpu_hour_usd)
    result = Evaluation(task_id=task_id, candidate=candidate, output_shape=shape, n_test=len(rows), metrics=metrics,
                        usage_source=source,
                        examples=[{"llm": r, "specialist": p} for r, p in zip(reference[:5], predicted[:5],
                                                                              strict=True)])
    shape_figures = ", ".join(f"{k} {v:.3f}" for k, v in metrics.items() if k in SHAPE_FIGURES)
    log.info("task %s (%s): agreement %.3f on %d calls (%s), p50 %.1f ms, $%.4f vs LLM $%.4f per 1k calls", task_id,
             candidate, metrics["agreement"], len(rows), shape_figures or shape, metrics["latency_ms_p50"],
             metrics["cost_per_1k_specialist_usd"], llm_cost)
    return result


@task(name="report")
def write_task_report(task_id: str, task_name: str, evaluations: list[Evaluation], chosen: str | None,
                      gate_metric: str, out_dir: Path) -> list[Path]:
    """The task's report.md and report.png under `out_dir`."""
    return list(write_report(task_id, task_name, evaluations, chosen, gate_metric, out_dir))


def best_evaluation(evaluations: list[Evaluation], metric: str) -> Evaluation:
    """The candidate that scores highest on the gate's metric (then on agreement, then the faster one)."""
    return max(evaluations, key=lambda e: (e.metrics.get(metric, 0.0), e.metrics["agreement"],
                                           -e.metrics["latency_ms_p95"]))
