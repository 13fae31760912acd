"""Stage: measure a specialist against the LLM on the task's held-out calls.

Agreement is the share of test calls where the specialist's answer means the same as the LLM's (see
llm2slm.agreement). Latency is the wall time of one call answered alone (batch of one), on this machine.
"""

from __future__ import annotations

import logging
import random
import time
from pathlib import Path

import numpy as np
from prefect import task
from pydantic import BaseModel

from llm2slm.agreement import agreement
from llm2slm.config import EvaluateConfig
from tasks.split import read_split

log = logging.getLogger("llm2slm.evaluate")


class Evaluation(BaseModel):
    task_id: str
    n_test: int
    agreement: float
    latency_ms_p50: float
    latency_ms_p95: float
    calls_per_s: float
    examples: list[dict]  # a few (answer, prediction) pairs for the report


def _sample(rows: list[dict], limit: int, seed: int = 0) -> list[dict]:
    if len(rows) <= limit:
        return rows
    return random.Random(seed).sample(rows, limit)


@task(name="evaluate")
def evaluate_specialist(task_id: str, model_dir: Path, task_dir: Path, cfg: EvaluateConfig) -> Evaluation:
    from llm2slm.specialist import Specialist

    rows = _sample(read_split(task_dir, "test"), cfg.max_test_calls)
    if not rows:
        raise ValueError(f"task {task_id} has no test calls in {task_dir}")
    specialist = Specialist.load(model_dir)
    started = time.perf_counter()
    predicted = specialist.predict_rows(rows)
    batch_s = time.perf_counter() - started
    reference = [row["answer"] for row in rows]
    timings = []
    for row in rows[: cfg.latency_calls]:
        one = time.perf_counter()
        specialist.predict_rows([row])
        timings.append((time.perf_counter() - one) * 1000.0)  # ms per call, batch of one
    result = Evaluation(
        task_id=task_id,
        n_test=len(rows),
        agreement=agreement(predicted, reference),
        latency_ms_p50=float(np.percentile(timings, 50)),
        latency_ms_p95=float(np.percentile(timings, 95)),
        calls_per_s=len(rows) / batch_s if batch_s > 0 else 0.0,
        examples=[{"llm": r, "specialist": p} for r, p in zip(reference[:5], predicted[:5], strict=True)],
    )
    log.info("task %s: agreement %.3f on %d calls, p50 %.1f ms", task_id, result.agreement, result.n_test,
             result.latency_ms_p50)
    return result
