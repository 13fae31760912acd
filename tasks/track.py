"""Tracking tasks: each opens the MLflow child run of one stage (and task) and logs what the stage produced.

Keeping this apart from the stage functions lets DVC run the data stages with no tracking server, while the flow
records one run per stage per task under the conversion's parent run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prefect import task

from llm2slm.lineage.tracking import RunContext, log_flat, stage_run


@task(name="track-stage")
def track_stage(ctx: RunContext, stage: str, metrics: dict[str, Any], params: dict[str, Any] | None = None,
                artifacts: list[Path] | None = None, task_id: str | None = None,
                tags: dict[str, str] | None = None, record: dict[str, Any] | None = None) -> str:
    """Log one stage's metrics, params, artifacts and a JSON record of its result; returns the run id."""
    import mlflow

    with stage_run(ctx, stage, task_id, tags) as run:
        if params:
            mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        log_flat("", metrics)
        for path in artifacts or []:
            if Path(path).exists():
                mlflow.log_artifact(str(path))
        if record is not None:
            mlflow.log_dict(record, f"{stage}.json")
        return run.info.run_id


@task(name="track-finetune")
def track_finetune(ctx: RunContext, task_id: str, model_dir: Path, metrics: dict[str, Any],
                   recipe: dict[str, Any], tags: dict[str, str], run_id: str | None = None) -> str:
    """Log the fine-tuning run with its recipe and metrics and the specialist as an MLflow model; returns its URI.
    `run_id`: the run the training already logged its steps to (finetune_task opened it); else a new child run."""
    import mlflow

    from llm2slm.training.mlflow_log import log_specialist

    if run_id:
        mlflow.set_tracking_uri(ctx.tracking_uri)
    with mlflow.start_run(run_id=run_id, nested=mlflow.active_run() is not None) if run_id else \
            stage_run(ctx, "finetune", task_id, tags):
        mlflow.log_params({f"recipe.{k}": str(v)[:500] for k, v in recipe.items()})
        log_flat("", metrics)
        mlflow.log_dict(json.loads(json.dumps(recipe, default=str)), "recipe.json")
        return log_specialist(model_dir, name="specialist")


@task(name="start-conversion")
def start_conversion(tracking_uri: str, artifact_root: str | None, tags: dict[str, str]) -> RunContext:
    """Create the conversion's parent run (left open for the children); returns the context stages log under."""
    from mlflow import MlflowClient

    from llm2slm.lineage.tracking import ensure_experiment

    experiment_id = ensure_experiment(tracking_uri, artifact_root)
    run = MlflowClient(tracking_uri).create_run(experiment_id, run_name="convert", tags=tags)
    return RunContext(tracking_uri=tracking_uri, experiment_id=experiment_id, parent_run_id=run.info.run_id,
                      tags={"llm2slm.conversion_run": run.info.run_id})


@task(name="finish-conversion")
def finish_conversion(ctx: RunContext, summary: dict[str, Any], metrics: dict[str, float]) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(ctx.tracking_uri)
    client.log_dict(ctx.parent_run_id, summary, "summary.json")
    for key, value in metrics.items():
        client.log_metric(ctx.parent_run_id, key, value)
    client.set_terminated(ctx.parent_run_id, "FINISHED")
