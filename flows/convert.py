"""The conversion flow: one window of captured calls in, one registered specialist per discovered task out.

It only wires the tasks, in the order of the conversion (S1 export: a manifest of the window, no call text; S2
curate: the calls read from the encrypted store and scrubbed; S3 cluster and split; each versioned by DVC and
tracked in MLflow; then per task S4 select, S5 fine-tune and evaluate each candidate, compare, re-evaluate the
champion on the chosen candidate's test calls, register). Each task is its own subflow, so one task's failure
leaves the others standing. A data stage whose inputs, configuration and code are those of its last run is not
run again: its cached result is reused (`tasks.stage`), so a run killed part-way and started again resumes. The flow prepares its own environment, so a run started by a Prefect worker behaves
like one started by the CLI.
"""

from __future__ import annotations

from prefect import flow

from llm2slm.common.config import Config, load_config
from llm2slm.common.env import prepare_environment
from llm2slm.discovery.catalogue import TaskEntry
from llm2slm.lineage.tracking import RunContext
from llm2slm.registry.outcomes import ConversionSummary, TaskOutcome, failed_outcome, task_outcome
from tasks.champion import reevaluate_champion
from tasks.cluster import cluster, read_tasks
from tasks.curate import curate
from tasks.evaluate import compare, evaluate
from tasks.export import export
from tasks.finetune import finetune
from tasks.register import register
from tasks.select import select
from tasks.split import split
from tasks.stage import run_stage
from tasks.track import (finish_conversion, start_conversion, task_tags, track_cluster, track_curate,
                         track_evaluation, track_finetune, track_registration, track_report, track_selection,
                         with_datasets)
from tasks.version import init_versioning, push_datasets, version_stage


@flow(name="specialise-task")
def specialise_task(cfg: Config, ctx: RunContext, entry: TaskEntry, generators_left: int | None = None) -> TaskOutcome:
    choice = select(cfg, entry, generators_left)                                  # S4 select
    track_selection(ctx, entry, choice)
    if choice.decision != "specialist":
        return task_outcome(entry, choice)
    models, budgets, evaluations = {}, {}, []
    for candidate in choice.candidates:                                           # S5 fine-tune, evaluate
        trained = finetune(cfg, entry, candidate, ctx, task_tags(ctx, entry, candidate=candidate))
        models[candidate], budgets[candidate] = track_finetune(ctx, entry, trained), trained.budget
        evaluations.append(evaluate(cfg, entry, trained, choice.output_shape))
        track_evaluation(ctx, entry, evaluations[-1])
    compared = compare(cfg, entry, evaluations, choice.output_shape)
    track_report(ctx, entry, compared.best, compared.gate_metric, compared.report)
    champion = reevaluate_champion(cfg, entry, choice.output_shape, compared.best)  # on the same calls
    version = register(cfg, entry, models[compared.best.candidate], compared.best, task_tags(ctx, entry), champion)
    track_registration(ctx, entry, version)
    return task_outcome(entry, choice, compared.best, version, budgets[compared.best.candidate])


@flow(name="convert")
def convert(project_dir: str | None = None, home: str | None = None) -> ConversionSummary:
    """Run the whole conversion on the calls in the store (paths and tunables from params.yaml)."""
    cfg = load_config(project_dir, home)
    prepare_environment(cfg)
    init_versioning(cfg)
    ctx = start_conversion(cfg)

    manifest = export(cfg)                                                        # S1 the window's manifest
    version_stage(cfg, "export")
    audit, curate_reused = run_stage(curate, cfg, "curate")                       # S2 curate
    version_stage(cfg, "curate")
    track_curate(ctx, cfg, audit, curate_reused)
    found, cluster_reused = run_stage(cluster, cfg, "cluster")                    # S3 discover tasks
    version_stage(cfg, "cluster")
    track_cluster(ctx, cfg, found, cluster_reused)
    _, split_reused = run_stage(split, cfg, "split")
    version_stage(cfg, "split")
    hashes = push_datasets(cfg)
    ctx = with_datasets(ctx, hashes)

    outcomes, generators_left = [], cfg.finetune.generator_max_tasks
    for entry in read_tasks(cfg):                                                 # S4-S5 per task
        state = specialise_task(cfg, ctx, entry, generators_left, return_state=True)
        outcomes.append(state.result() if state.is_completed() else failed_outcome(entry, str(state.message)))
        if generators_left is not None and outcomes[-1].model_kind == "generator":
            generators_left -= 1
    return finish_conversion(ctx, ConversionSummary(
        n_calls=manifest.n_calls, n_curated=audit.n_out, n_tasks=found.n_tasks, n_outliers=found.n_outliers,
        data_hashes=hashes, parent_run_id=ctx.parent_run_id or "", outcomes=outcomes,
        reused=[s for s, r in (("curate", curate_reused), ("cluster", cluster_reused), ("split", split_reused)) if r]))
