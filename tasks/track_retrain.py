"""The retrain run's MLflow parent run and its end: the report written (JSON and Markdown under
`runs/retrain/reports/<run id>/`) and logged with the drift figures as metrics, and the state advanced (the
watermark to this window's end, the trained tasks' sizes, the unfinished decisions cleared or kept when a task
failed). The per-task runs are the conversion's (`tasks.track`), under this parent."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from prefect import task

from llm2slm.common.artifacts import Artifacts
from llm2slm.common.config import Config
from llm2slm.common.files import private_dir, write_json, atomic_write_text
from llm2slm.discovery.catalogue import read_catalogue
from llm2slm.lineage.tracking import RunContext, ensure_experiment
from llm2slm.retraining.report import RetrainReport, markdown
from llm2slm.retraining.state import read_state, write_state
from tasks.track import RETRY

log = logging.getLogger("llm2slm.retrain")


@task(name="start-retrain", **RETRY)
def start_retrain(cfg: Config) -> RunContext:
    """The retrain run's parent run in the conversion's experiment (tag `llm2slm.flow` = retrain)."""
    from mlflow import MlflowClient

    experiment_id = ensure_experiment(cfg.mlflow_tracking_uri, cfg.artifact_root())
    run = MlflowClient(cfg.mlflow_tracking_uri).create_run(experiment_id, run_name="retrain", tags={
        "llm2slm.project": cfg.paths.project.name, "llm2slm.flow": "retrain"})
    return RunContext(tracking_uri=cfg.mlflow_tracking_uri, experiment_id=experiment_id,
                      parent_run_id=run.info.run_id, tags={"llm2slm.conversion_run": run.info.run_id})


def _metrics(report: RetrainReport) -> dict[str, float]:
    metrics = {"n_window": report.window.n_calls, "n_curated": report.window.n_curated,
               "n_retrained": sum(d.action == "retrain" for d in report.decisions),
               "n_new_tasks": sum(d.action == "train_new" for d in report.decisions), "seconds": report.seconds}
    if report.drift:
        metrics.update({"unassigned_share": report.drift.unassigned_share,
                        "mix_divergence": report.drift.mix_divergence})
        for t in report.drift.tasks:
            metrics[f"growth.{t.task_id}"] = t.growth
            if t.shift:
                metrics[f"shift_p_value.{t.task_id}"] = t.shift.p_value
    return metrics


def _advance(cfg: Config, report: RetrainReport) -> None:
    art = Artifacts(cfg.paths)
    state = read_state(art.retrain_state)
    sizes = {t.task_id: t.size for t in read_catalogue(art.task_catalogue).tasks}
    failed = {o.task_id for o in report.outcomes if o.decision == "failed"}
    for outcome in report.outcomes:
        if outcome.decision != "failed":
            state.trained_sizes[outcome.task_id] = sizes.get(outcome.task_id, outcome.calls)
    state.pending = {t: r for t, r in state.pending.items() if t in failed}
    state.watermark, state.last_run = report.window.until, report.run_id
    write_state(art.retrain_state, state)


@task(name="finish-retrain", **RETRY)
def finish_retrain(ctx: RunContext, cfg: Config, report: RetrainReport) -> RetrainReport:
    from mlflow import MlflowClient

    report = report.model_copy(update={"seconds": (datetime.now(timezone.utc) - report.started).total_seconds()})
    folder = private_dir(Artifacts(cfg.paths).retrain_reports / report.run_id)
    text = markdown(report, cfg.retrain)
    write_json(folder / "report.json", report.model_dump(mode="json"))
    atomic_write_text(folder / "report.md", text)
    client = MlflowClient(ctx.tracking_uri)
    for name in ("report.json", "report.md"):
        client.log_artifact(ctx.parent_run_id, str(folder / name))
    for key, value in _metrics(report).items():
        client.log_metric(ctx.parent_run_id, key, float(value))
    client.set_tag(ctx.parent_run_id, "llm2slm.changed_tasks", ",".join(report.changed()))
    _advance(cfg, report)
    client.set_terminated(ctx.parent_run_id, "FINISHED")
    log.info("retrain report: %s", folder / "report.md")
    return report
