"""The retrain flow, S6 of the conversion: the calls captured since the last run in, only what changed retrained.

It only wires the tasks, as the S6 list reads: export the calls since the last run's watermark; curate them;
place them in the known tasks with the saved assigner; measure drift per task; discover new tasks among the calls
no task accepted and join the window to the datasets (the assigner refitted with the new tasks, every known task id
kept); decide per task (retrain, train new, leave alone) with the reason; fine-tune, evaluate and register what was
decided (`specialise_task`, the convert flow's, so the gate compares challenger and champion on the same test
calls); write the run report and advance the watermark. A window with nothing new ends after the export, every
task and champion left as it was. docs/retrain.md explains the signals and the report; infra/prefect.yaml
schedules it.
"""

from __future__ import annotations

from datetime import datetime, timezone

from prefect import flow

from flows.convert import specialise_task
from llm2slm.common.config import load_config
from llm2slm.common.env import prepare_environment
from llm2slm.registry.outcomes import failed_outcome
from llm2slm.retraining.report import RetrainReport, window_flags
from tasks.cluster import read_tasks
from tasks.drift import decide, measure_drift
from tasks.merge import add_window
from tasks.split import split
from tasks.stage import run_stage
from tasks.track import with_datasets
from tasks.track_retrain import finish_retrain, start_retrain
from tasks.version import init_versioning, push_datasets, version_stage
from tasks.window import assign_window, curate_window, export_window


@flow(name="retrain")
def retrain(project_dir: str | None = None, home: str | None = None) -> RetrainReport:
    """Retrain what the calls since the last run changed (paths and thresholds from params.yaml)."""
    cfg = load_config(project_dir, home)
    prepare_environment(cfg)
    init_versioning(cfg)
    ctx = start_retrain(cfg)
    report = RetrainReport(run_id=ctx.parent_run_id or "", started=datetime.now(timezone.utc),
                           window=export_window(cfg), tasks_before=[t.task_id for t in read_tasks(cfg)])
    if not report.window.n_calls:                                                 # nothing new: nothing changes
        return finish_retrain(ctx, cfg, report.model_copy(update={"tasks_after": report.tasks_before}))

    audit = curate_window(cfg)                                                    # S2 curate the window
    assign_window(cfg)                                                            # S3 place it in the known tasks
    drift = measure_drift(cfg)                                                    #    drift per task
    found = add_window(cfg)                                                       #    new tasks; join the datasets
    decisions = decide(cfg, drift, found)                                         #    retrain / train new / leave
    run_stage(split, cfg, "split")                                               #    the datasets anew
    for stage in ("curate", "cluster", "split"):
        version_stage(cfg, stage)
    ctx = with_datasets(ctx, push_datasets(cfg))

    outcomes, generators_left = [], cfg.finetune.generator_max_tasks
    entries = {e.task_id: e for e in read_tasks(cfg)}
    for decision in (d for d in decisions if d.trains):                           # S4-S5 what was decided
        entry = entries[decision.task_id]
        state = specialise_task(cfg, ctx, entry, generators_left, return_state=True)
        outcomes.append(state.result() if state.is_completed() else failed_outcome(entry, str(state.message)))
        if generators_left is not None and outcomes[-1].model_kind == "generator":
            generators_left -= 1
    return finish_retrain(ctx, cfg, report.model_copy(update={
        "window": report.window.model_copy(update={"n_curated": audit.n_out}), "drift": drift,
        "decisions": decisions, "outcomes": outcomes, "small_clusters": found.small,
        "tasks_after": list(entries), "flags": window_flags(drift, cfg.retrain)}))
