"""Evaluate: a specialist against the LLM on its task's held-out calls (`llm2slm.evaluation.evaluate`); then the
task's candidates compared, the best chosen by the promotion gate's metric, and the task's report written."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from pydantic import BaseModel

from llm2slm.common.artifacts import Artifacts
from llm2slm.common.config import Config
from llm2slm.discovery.catalogue import TaskEntry
from llm2slm.discovery.split import read_split
from llm2slm.evaluation.costs import logged_usage
from llm2slm.evaluation.evaluate import Evaluation, best_evaluation, evaluate_specialist, sample_rows
from llm2slm.evaluation.report import write_report
from llm2slm.registry.versions import gate_metric
from llm2slm.training.finetune import FinetuneResult


class Comparison(BaseModel):
    best: Evaluation
    gate_metric: str
    report: list[Path]


@task(name="evaluate")
def evaluate(cfg: Config, entry: TaskEntry, trained: FinetuneResult, shape: str) -> Evaluation:
    from llm2slm.serving.specialist import Specialist

    art = Artifacts(cfg.paths)
    rows = sample_rows(read_split(art.tasks / entry.task_id, "test"), cfg.evaluate.max_test_calls)
    usage = logged_usage(art.curated, {r["id"] for r in rows})
    return evaluate_specialist(entry.task_id, Specialist.load(trained.model_dir), rows, shape, cfg.evaluate, usage,
                               candidate=trained.candidate)


@task(name="compare")
def compare(cfg: Config, entry: TaskEntry, evaluations: list[Evaluation], shape: str) -> Comparison:
    """The best candidate on the gate's metric for the shape, and the task's report.md and report.png."""
    metric = gate_metric(cfg.policy_path(), shape)
    best = best_evaluation(evaluations, metric)
    report = write_report(entry.task_id, entry.name, evaluations, best.candidate, metric,
                          Artifacts(cfg.paths).report_dir(entry.task_id))
    return Comparison(best=best, gate_metric=metric, report=list(report))
