"""Tracking tasks: the conversion's MLflow parent run, and one child run per stage (and task) with what it produced.

Each task here turns a stage's typed result into MLflow params, metrics and artifacts, so the stages stay free of
tracking and DVC can run the data stages with no tracking server. A stage's file artifacts come from the artifact
catalogue (`Artifacts.logged`): one that is missing fails the task. The tracking server is remote at scale, so
every task retries.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from prefect import task

from llm2slm.common.artifacts import Artifacts
from llm2slm.common.config import Config
from llm2slm.curation.audit import CurateAudit
from llm2slm.discovery.catalogue import TaskEntry
from llm2slm.discovery.run import DiscoveryResult
from llm2slm.evaluation.evaluate import Evaluation
from llm2slm.lineage.tracking import RunContext, ensure_experiment, log_flat, stage_run
from llm2slm.registry.outcomes import ConversionSummary
from llm2slm.registry.versions import RegisteredVersion
from llm2slm.selection.select import Selection
from llm2slm.training.finetune import FinetuneResult

RETRY = {"retries": 2, "retry_delay_seconds": 5}


def _log_run(ctx: RunContext, stage: str, metrics: dict[str, Any], params: dict[str, Any] | None = None,
             artifacts: list[Path] | None = None, task_id: str | None = None, tags: dict[str, str] | None = None,
             record: dict[str, Any] | None = None, artifact_path: str | None = None) -> str:
    """One child run: params (values cut to MLflow's 500 characters), nested numeric metrics, files (under
    `artifact_path` when given), a record."""
    import mlflow

    with stage_run(ctx, stage, task_id, tags) as run:
        if params:
            mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        log_flat("", metrics)
        for path in artifacts or []:
            mlflow.log_artifact(str(path), artifact_path)
        if record is not None:
            mlflow.log_dict(record, f"{stage}.json")
        return run.info.run_id


@task(name="start-conversion", **RETRY)
def start_conversion(cfg: Config) -> RunContext:
    """Create the conversion's parent run (left open for the children); returns the context stages log under."""
    from mlflow import MlflowClient

    experiment_id = ensure_experiment(cfg.mlflow_tracking_uri, cfg.artifact_root())
    run = MlflowClient(cfg.mlflow_tracking_uri).create_run(experiment_id, run_name="convert",
                                                           tags={"llm2slm.project": cfg.paths.project.name})
    return RunContext(tracking_uri=cfg.mlflow_tracking_uri, experiment_id=experiment_id,
                      parent_run_id=run.info.run_id, tags={"llm2slm.conversion_run": run.info.run_id})


@task(name="track-curate", **RETRY)
def track_curate(ctx: RunContext, cfg: Config, audit: CurateAudit, reused: bool = False) -> str:
    return _log_run(ctx, "curate", audit.model_dump(), {**cfg.curate.model_dump(), "ner_model": audit.ner_model},
                    Artifacts(cfg.paths).logged("curate"), tags=_reuse_tag(reused))


@task(name="track-cluster", **RETRY)
def track_cluster(ctx: RunContext, cfg: Config, found: DiscoveryResult, reused: bool = False) -> str:
    return _log_run(ctx, "cluster", found.model_dump(), cfg.cluster.model_dump(), Artifacts(cfg.paths).logged("cluster"),
                    tags=_reuse_tag(reused))


def _reuse_tag(reused: bool) -> dict[str, str]:
    """`llm2slm.reused`: "true" on a stage's run when its result came from an earlier run's cache."""
    return {"llm2slm.reused": str(reused).lower()}


def with_datasets(ctx: RunContext, hashes: dict[str, str]) -> RunContext:
    """The context with the DVC hashes of the datasets every later run was trained and tested on."""
    tags = {f"dvc.{key}_md5": value for key, value in hashes.items() if key in ("tasks", "curated")}
    return ctx.model_copy(update={"tags": {**ctx.tags, **tags}})


def task_tags(ctx: RunContext, entry: TaskEntry, **extra: str) -> dict[str, str]:
    return {**ctx.tags, "llm2slm.task_name": entry.name, **{f"llm2slm.{k}": v for k, v in extra.items()}}


@task(name="track-select", **RETRY)
def track_selection(ctx: RunContext, entry: TaskEntry, choice: Selection) -> str:
    screens = {f"screen.{v.name}": v.screen for v in choice.verdicts if v.screen is not None}
    metrics = {"n_train": choice.n_train, "n_distinct_answers": choice.n_distinct_answers,
               "n_eligible": sum(v.eligible for v in choice.verdicts), **screens}
    params = {"decision": choice.decision, "candidates": ",".join(choice.candidates), "shape": choice.output_shape,
              "reasons": " | ".join(choice.reasons)}
    return _log_run(ctx, "select", metrics, params, task_id=entry.task_id,
                    tags=task_tags(ctx, entry, decision=choice.decision), record=choice.model_dump())


@task(name="track-finetune", **RETRY)
def track_finetune(ctx: RunContext, entry: TaskEntry, trained: FinetuneResult) -> str:
    """Complete the fine-tuning run (opened before training) with its recipe and metrics and log the specialist
    as an MLflow model; returns the model's URI."""
    import mlflow

    from llm2slm.training.mlflow_log import log_specialist

    mlflow.set_tracking_uri(ctx.tracking_uri)
    tags = task_tags(ctx, entry, candidate=trained.candidate)
    run = mlflow.start_run(run_id=trained.mlflow_run_id, nested=mlflow.active_run() is not None) \
        if trained.mlflow_run_id else \
        stage_run(ctx, "finetune", entry.task_id, tags)
    with run:
        mlflow.log_params({f"recipe.{k}": str(v)[:500] for k, v in trained.recipe.items()})
        log_flat("", trained.metrics)
        mlflow.log_dict(json.loads(json.dumps(trained.recipe, default=str)), "recipe.json")
        return log_specialist(trained.model_dir, name="specialist")


@task(name="track-evaluate", **RETRY)
def track_evaluation(ctx: RunContext, entry: TaskEntry, scores: Evaluation) -> str:
    """The figures and the record; with a calibrated threshold, the coverage-agreement plot (validation and test
    curves, the target, the calibrated point) and the curves as JSON, under `deferral/`."""
    from llm2slm.evaluation.deferral_report import curve_record, plot_coverage_curve

    params = {"shape": scores.output_shape, "usage_source": scores.usage_source}
    if scores.raw_skipped:
        params["raw_skipped"] = scores.raw_skipped
    if scores.calibration is not None:
        params.update({"route.target_agreement": scores.calibration.target,
                       "route.min_calibration_calls": scores.calibration.min_calls})
    with tempfile.TemporaryDirectory(prefix="l2s-curve-") as folder:
        files = []
        if scores.calibration is not None:
            files.append(plot_coverage_curve(scores, Path(folder) / "coverage_agreement.png"))
            files.append(Path(folder) / "coverage_agreement.json")
            files[-1].write_text(json.dumps(curve_record(scores), indent=1))
        return _log_run(ctx, "evaluate", {**scores.figures(), "n_test": scores.n_test}, params, files,
                        task_id=entry.task_id, tags=task_tags(ctx, entry, candidate=scores.candidate or ""),
                        record=scores.model_dump(exclude={"test_curve": True, "calibration": {"curve"}}),
                        artifact_path="deferral")  # the curves are in deferral/, not twice


@task(name="track-report", **RETRY)
def track_report(ctx: RunContext, entry: TaskEntry, best: Evaluation, gate_metric: str, report: list[Path]) -> str:
    return _log_run(ctx, "report", best.figures(), {"chosen": best.candidate, "gate_metric": gate_metric}, report,
                    task_id=entry.task_id, tags=task_tags(ctx, entry, candidate=best.candidate or ""))


@task(name="track-register", **RETRY)
def track_registration(ctx: RunContext, entry: TaskEntry, version: RegisteredVersion) -> str:
    return _log_run(ctx, "register", {"version": float(version.version), "gate_passed": float(version.gate_passed)},
                    {"model": version.name, "aliases": ",".join(version.aliases), "mode": version.mode},
                    task_id=entry.task_id, tags=task_tags(ctx, entry), record=version.model_dump())


@task(name="finish-conversion", **RETRY)
def finish_conversion(ctx: RunContext, summary: ConversionSummary) -> ConversionSummary:
    from mlflow import MlflowClient

    client = MlflowClient(ctx.tracking_uri)
    client.log_dict(ctx.parent_run_id, summary.model_dump(mode="json"), "summary.json")
    client.set_tag(ctx.parent_run_id, "llm2slm.reused_stages", ",".join(summary.reused) or "none")
    for key, value in summary.metrics().items():
        client.log_metric(ctx.parent_run_id, key, value)
    client.set_terminated(ctx.parent_run_id, "FINISHED")
    return summary
