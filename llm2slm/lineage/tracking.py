"""MLflow bookkeeping shared by the stages: one parent run per conversion, one child run per stage (and task)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

EXPERIMENT = "llm2slm-convert"


class RunContext(BaseModel):
    """What a stage needs to log under the conversion's parent run."""

    tracking_uri: str
    experiment_id: str
    parent_run_id: str | None = None
    tags: dict[str, str] = {}


def ensure_experiment(tracking_uri: str, artifact_root: str | None = None, name: str = EXPERIMENT) -> str:
    """The experiment's id, creating it with its artifacts under `artifact_root` (a URI) when given: without
    it a local store would put artifacts under the current folder."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    found = mlflow.get_experiment_by_name(name)
    if found:
        return found.experiment_id
    return mlflow.create_experiment(name, artifact_location=artifact_root)


@contextlib.contextmanager
def stage_run(ctx: RunContext | None, stage: str, task_id: str | None = None,
              tags: dict[str, str] | None = None) -> Iterator[Any]:
    """A child run named `stage` or `stage:task_id`, tagged with the stage, the task and the context's tags.

    With no context (a stage called on its own, e.g. by DVC) nothing is logged and None is yielded.
    """
    if ctx is None:
        yield None
        return
    import mlflow

    mlflow.set_tracking_uri(ctx.tracking_uri)
    all_tags = {**ctx.tags, "llm2slm.stage": stage, **(tags or {})}
    if task_id:
        all_tags["llm2slm.task_id"] = task_id
    name = f"{stage}:{task_id}" if task_id else stage
    with mlflow.start_run(experiment_id=ctx.experiment_id, run_name=name, parent_run_id=ctx.parent_run_id,
                          nested=mlflow.active_run() is not None, tags=all_tags) as run:
        yield run


def log_flat(prefix: str, values: dict[str, Any]) -> None:
    """Log a nested dict of numbers as metrics `prefix.key.sub`."""
    import mlflow

    flat: dict[str, float] = {}

    def walk(base: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{base}.{key}" if base else str(key), sub)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[base] = float(value)

    walk(prefix, values)
    if flat:
        mlflow.log_metrics({k.replace(":", "_"): v for k, v in flat.items()})


def open_child_run(ctx: RunContext, stage: str, task_id: str, tags: dict[str, str]) -> dict[str, str]:
    """A child run `<stage>:<task>` under the conversion run, created now and left open (a Ray worker logs to it
    before the driver completes it); returns {tracking_uri, run_id}."""
    from mlflow import MlflowClient

    all_tags = {**ctx.tags, **tags, "llm2slm.stage": stage, "llm2slm.task_id": task_id,
                "mlflow.runName": f"{stage}:{task_id}"}
    if ctx.parent_run_id:
        all_tags["mlflow.parentRunId"] = ctx.parent_run_id
    run = MlflowClient(ctx.tracking_uri).create_run(ctx.experiment_id, tags=all_tags)
    return {"tracking_uri": ctx.tracking_uri, "run_id": run.info.run_id}
