"""Evaluate: a specialist against the LLM on its task's held-out calls (`llm2slm.evaluation.evaluate`), scrubbed as
split and as captured (read from the encrypted store with the pipeline's curator identity, in memory only), with
its deferral threshold calibrated on the validation calls (the majority answer from the training split); then the
task's candidates compared, the best chosen by the promotion gate's metric, and the task's report written."""

from __future__ import annotations

import logging
from pathlib import Path

from prefect import task
from pydantic import BaseModel, ValidationError

from llm2slm.capture.export import WindowChangedError
from llm2slm.capture.keys import AuthError
from llm2slm.capture.local import store_exists
from llm2slm.common.artifacts import Artifacts
from llm2slm.common.config import Config
from llm2slm.discovery.catalogue import TaskEntry
from llm2slm.discovery.split import read_split
from llm2slm.evaluation.calibration import majority_answer
from llm2slm.evaluation.costs import logged_usage
from llm2slm.evaluation.evaluate import Evaluation, best_evaluation, evaluate_specialist, sample_rows
from llm2slm.evaluation.raw import CapturedRows, captured_rows
from llm2slm.evaluation.report import write_report
from llm2slm.registry.versions import gate_metric
from llm2slm.training.finetune import FinetuneResult
from tasks.curate import exported_calls

log = logging.getLogger("llm2slm.evaluate")

# why the store may not give the calls: no manifest, no or the wrong master key, no curator key, a changed window,
# an unreadable or corrupt store (MasterKeyError, StoreFormatError and CorruptSegmentError are ValueErrors)
UNREADABLE_STORE = (OSError, ValueError, AuthError, WindowChangedError)


class Comparison(BaseModel):
    best: Evaluation
    gate_metric: str
    report: list[Path]


def unreadable_reason(exc: Exception) -> str:
    """The error's message, cut; a validation error's only by type, since it would quote the stored text."""
    if isinstance(exc, ValidationError):
        return f"a stored call does not validate ({type(exc).__name__})"
    return str(exc)[:300]


def captured_test_rows(cfg: Config, task_id: str, rows: list[dict]) -> CapturedRows:
    """The test rows' calls as captured, from the store window of the export manifest (what curate read); when the
    store cannot be read, no rows and why, with one warning line."""
    try:
        if not store_exists(cfg):
            raise FileNotFoundError(f"no call store at {Artifacts(cfg.paths).store}")
        records = exported_calls(cfg)
    except UNREADABLE_STORE as exc:
        why = f"the call store could not be read: {unreadable_reason(exc)}"
        log.warning("task %s: no agreement on raw traffic, %s", task_id, why)
        return CapturedRows(skipped=why)
    return CapturedRows(rows=captured_rows(records, rows))


GENERATOR_LATENCY_CALLS = 4  # single calls a generator's latency is timed on (each costs seconds on 2 cores)


def split_rows(cfg: Config, task_id: str, part: str, limit: int) -> list[dict]:
    """A part of the task's split as the evaluation reads it: at most `limit` rows, the same seeded sample each
    time, so an evaluation's `n_test` as the limit gives back exactly the rows it was scored on."""
    return sample_rows(read_split(Artifacts(cfg.paths).tasks / task_id, part), limit)


def task_majority(cfg: Config, task_id: str, val: list[dict]) -> str:
    """The task's most frequent answer: the training split's, else that of the validation rows given."""
    train = read_split(Artifacts(cfg.paths).tasks / task_id, "train")
    return majority_answer([r["answer"] for r in train] or [r["answer"] for r in val])


@task(name="evaluate")
def evaluate(cfg: Config, entry: TaskEntry, trained: FinetuneResult, shape: str) -> Evaluation:
    from llm2slm.serving.specialist import Specialist

    art = Artifacts(cfg.paths)
    specialist = Specialist.load(trained.model_dir)
    limits = cfg.evaluate
    if specialist.kind == "generator":  # greedy generation costs seconds a call on a CPU: a capped evaluation
        limits = limits.model_copy(update={"max_test_calls": min(limits.max_test_calls, limits.max_generator_test_calls),
                                           "latency_calls": min(limits.latency_calls, GENERATOR_LATENCY_CALLS)})
    rows = split_rows(cfg, entry.task_id, "test", limits.max_test_calls)
    val = split_rows(cfg, entry.task_id, "val", limits.max_test_calls)
    if specialist.kind == "generator":  # seconds a call: say what the next minutes are spent on
        log.info("task %s: evaluating %s on %d held-out calls (scrubbed, then raw where scrubbing changed them) and "
                 "timing it on %d", entry.task_id, trained.candidate, len(rows), limits.latency_calls)
    # a generator's capped val calls are too few to calibrate on: not calibrated, so the router sends it no call
    calibration = None if specialist.kind == "generator" and len(val) < cfg.route.min_calibration_calls else val
    usage = logged_usage(art.curated, {r["id"] for r in rows})
    majority = task_majority(cfg, entry.task_id, val)
    return evaluate_specialist(entry.task_id, specialist, rows, shape, limits, usage,
                               candidate=trained.candidate, captured=captured_test_rows(cfg, entry.task_id, rows),
                               calibration_rows=calibration, majority=majority or None, route=cfg.route)


@task(name="compare")
def compare(cfg: Config, entry: TaskEntry, evaluations: list[Evaluation], shape: str) -> Comparison:
    """The best candidate on the gate's metric for the shape, and the task's report.md and report.png."""
    metric = gate_metric(cfg.policy_path(), shape)
    best = best_evaluation(evaluations, metric)
    report = write_report(entry.task_id, entry.name, evaluations, best.candidate, metric,
                          Artifacts(cfg.paths).report_dir(entry.task_id))
    return Comparison(best=best, gate_metric=metric, report=list(report))
