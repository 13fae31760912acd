"""The conversion flow: one snapshot of captured calls in, one registered specialist per discovered task out.

export -> curate -> cluster -> split (each recorded with DVC) -> per task: select -> fine-tune -> evaluate ->
register. Each task is its own subflow, so one task's failure leaves the others standing. This module only wires.
"""

from __future__ import annotations

import json
from pathlib import Path

from prefect import flow
from pydantic import BaseModel

from llm2slm.common.config import Config, load_config
from llm2slm.curation.audit import admin_examples_path
from llm2slm.registry.versions import load_policy
from llm2slm.lineage.tracking import RunContext
from llm2slm.lineage.dvc import commit_stage, ensure_repo, hash_of, push
from tasks.cluster import discover_tasks
from tasks.curate import curate
from tasks.evaluate import Evaluation, best_evaluation, evaluate_specialist, write_task_report
from tasks.export import export_snapshot
from tasks.finetune import finetune_task
from tasks.register import register_specialist
from tasks.select import select_model
from tasks.split import split_tasks
from tasks.track import finish_conversion, start_conversion, track_finetune, track_stage


class TaskOutcome(BaseModel):
    task_id: str
    name: str
    calls: int
    output_shape: str
    decision: str
    candidate: str | None = None
    agreement: float | None = None
    latency_ms_p50: float | None = None
    model_name: str | None = None
    version: str | None = None
    aliases: list[str] = []
    error: str | None = None
    reasons: list[str] = []


class ConversionSummary(BaseModel):
    n_calls: int
    n_curated: int
    n_tasks: int
    n_outliers: int
    data_hashes: dict[str, str]
    parent_run_id: str
    outcomes: list[TaskOutcome]


def try_candidate(cfg: Config, ctx: RunContext, task_id: str, task_dir: Path, candidate: str, shape: str,
                  tags: dict[str, str]) -> tuple[str, Evaluation]:
    """Fine-tune one selected candidate, log it as an MLflow model, evaluate it; (model URI, evaluation)."""
    tags = {**tags, "llm2slm.candidate": candidate}
    trained = finetune_task(task_id, candidate, task_dir, cfg.paths.models_dir / task_id / candidate,
                            cfg.catalogue_path(), cfg.finetune, cfg.paths.runs_dir, cfg.ray_address,
                            tracking=ctx, tags=tags)
    model_uri = track_finetune(ctx, task_id, trained.model_dir, trained.metrics, trained.recipe, tags,
                               run_id=trained.mlflow_run_id)
    scores = evaluate_specialist(task_id, trained.model_dir, task_dir, shape, cfg.evaluate,
                                 curated=cfg.paths.data_dir / "curated.parquet", candidate=candidate)
    track_stage(ctx, "evaluate", {**scores.metrics, "n_test": scores.n_test}, params={"shape": shape,
                "usage_source": scores.usage_source}, task_id=task_id, tags=tags, record=scores.model_dump())
    return model_uri, scores


@flow(name="specialise-task")
def specialise_task(cfg: Config, ctx: RunContext, task: dict, tasks_dir: Path) -> TaskOutcome:
    task_id, task_dir = task["task_id"], tasks_dir / task["task_id"]
    outcome = TaskOutcome(task_id=task_id, name=task["name"], calls=task["size"], output_shape=task["output_shape"],
                          decision="llm")
    tags = {**ctx.tags, "llm2slm.task_name": task["name"]}
    choice = select_model(task_id, task_dir, task, cfg.select, cfg.catalogue_path())
    screens = {f"screen.{v.name}": v.screen for v in choice.verdicts if v.screen is not None}
    track_stage(ctx, "select", {"n_train": choice.n_train, "n_distinct_answers": choice.n_distinct_answers,
                                "n_eligible": sum(v.eligible for v in choice.verdicts), **screens},
                params={"decision": choice.decision, "candidates": ",".join(choice.candidates),
                        "shape": choice.output_shape, "reasons": " | ".join(choice.reasons)},
                task_id=task_id, tags={**tags, "llm2slm.decision": choice.decision}, record=choice.model_dump())
    outcome = outcome.model_copy(update={"decision": choice.decision, "candidate": choice.candidate,
                                         "output_shape": choice.output_shape, "reasons": choice.reasons})
    if choice.decision != "specialist":
        return outcome
    tried = {name: try_candidate(cfg, ctx, task_id, task_dir, name, choice.output_shape, tags)
             for name in choice.candidates}
    gate_metric = load_policy(cfg.policy_path()).metrics[choice.output_shape].metric
    best = best_evaluation([scores for _, scores in tried.values()], gate_metric)
    report = write_task_report(task_id, task["name"], [scores for _, scores in tried.values()], best.candidate,
                               gate_metric, cfg.paths.runs_dir / "reports" / task_id)
    track_stage(ctx, "report", best.metrics, params={"chosen": best.candidate, "gate_metric": gate_metric},
                artifacts=report, task_id=task_id, tags={**tags, "llm2slm.candidate": best.candidate})
    version = register_specialist(task_id, tried[best.candidate][0], choice.output_shape, best.metrics,
                                  {**tags, "llm2slm.candidate": best.candidate}, cfg.registry, cfg.policy_path(),
                                  cfg.mlflow_tracking_uri)
    track_stage(ctx, "register", {"version": float(version.version), "gate_passed": float(version.gate_passed)},
                params={"model": version.name, "aliases": ",".join(version.aliases), "mode": version.mode},
                task_id=task_id, tags=tags, record=version.model_dump())
    return outcome.model_copy(update={"candidate": best.candidate, "agreement": best.agreement,
                                      "latency_ms_p50": best.latency_ms_p50, "model_name": version.name,
                                      "version": version.version, "aliases": version.aliases})


@flow(name="convert")
def convert(project_dir: str | None = None, home: str | None = None) -> ConversionSummary:
    """Run the whole conversion on the calls in the store (paths and tunables from params.yaml)."""
    cfg = load_config(project_dir, home)
    paths, data = cfg.paths, cfg.paths.data_dir
    ensure_repo(paths.project, paths.dvc_cache, paths.dvc_remote)
    ctx = start_conversion(cfg.mlflow_tracking_uri, cfg.artifact_root(), {"llm2slm.project": paths.project.name})

    snapshot = export_snapshot(cfg, data / "raw.parquet")
    commit_stage(paths.project, "export")
    audit = curate(data / "raw.parquet", data / "curated.parquet", data / "curate_audit.json", cfg.curate,
                   admin_examples_path(paths.home))
    commit_stage(paths.project, "curate")
    track_stage(ctx, "curate", audit.model_dump(), params={**cfg.curate.model_dump(), "ner_model": audit.ner_model},
                artifacts=[data / "curate_audit.json"])
    found = discover_tasks(data / "curated.parquet", data / "catalogue.json", data / "assignments.parquet", cfg.cluster)
    commit_stage(paths.project, "cluster")
    track_stage(ctx, "cluster", found.model_dump(), params=cfg.cluster.model_dump(),
                artifacts=[data / "catalogue.json", data / "catalogue.png", data / "catalogue.html",
                           data / "assigner.npz", data / "assigner.json", data / "task_registry.json"])
    split_tasks(data / "curated.parquet", data / "assignments.parquet", data / "tasks", cfg.split)
    commit_stage(paths.project, "split")
    push(paths.project)
    hashes = {name: hash_of(paths.project, data / name) for name in ("raw.parquet", "curated.parquet", "tasks")}
    ctx = ctx.model_copy(update={"tags": {**ctx.tags, "dvc.tasks_md5": hashes["tasks"],
                                          "dvc.curated_md5": hashes["curated.parquet"]}})

    outcomes = []
    for entry in json.loads((data / "catalogue.json").read_text())["tasks"]:
        state = specialise_task(cfg, ctx, entry, data / "tasks", return_state=True)
        if state.is_completed():
            outcomes.append(state.result())
        else:
            outcomes.append(TaskOutcome(task_id=entry["task_id"], name=entry["name"], calls=entry["size"],
                                        output_shape=entry["output_shape"], decision="failed",
                                        error=str(state.message)[:300]))
    summary = ConversionSummary(n_calls=snapshot.n_calls, n_curated=audit.n_out, n_tasks=found.n_tasks,
                                n_outliers=found.n_outliers, data_hashes=hashes,
                                parent_run_id=ctx.parent_run_id or "", outcomes=outcomes)
    trained = [o for o in outcomes if o.agreement is not None]
    finish_conversion(ctx, summary.model_dump(mode="json"),
                      {"n_calls": snapshot.n_calls, "n_tasks": found.n_tasks, "n_trained": len(trained)})
    return summary
