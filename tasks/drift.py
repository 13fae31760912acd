"""The retrain flow's drift signals and decisions (`llm2slm.retraining.signals`, `llm2slm.retraining.decide`):
the window against the datasets the known tasks were trained on, the gateway's shadow comparisons since the
watermark, then per task retrain / train new / leave, with the unfinished decisions of a killed run added."""

from __future__ import annotations

from prefect import task

from llm2slm.common.artifacts import Artifacts
from llm2slm.common.config import Config
from llm2slm.common.snapshot import read_snapshot
from llm2slm.discovery.assigner import load_assigner
from llm2slm.discovery.catalogue import read_assignments, read_catalogue
from llm2slm.retraining.decide import Decision, plan
from llm2slm.retraining.drift import DriftReport
from llm2slm.retraining.refit import NewTaskSummary
from llm2slm.retraining.signals import input_embedder, measure
from llm2slm.retraining.state import read_state, window_start, write_state
from llm2slm.serving.route_log import read_events
from tasks.window import converted_until


@task(name="measure-drift")
def measure_drift(cfg: Config) -> DriftReport:
    art = Artifacts(cfg.paths)
    assigner = load_assigner(art.assigner_arrays)
    state = read_state(art.retrain_state)
    catalogue = read_catalogue(art.task_catalogue)
    sizes = {t.task_id: state.trained_sizes.get(t.task_id, t.size) for t in catalogue.tasks}
    since = window_start(state, converted_until(cfg))
    events = read_events(art.route_log, since).events
    embed = input_embedder(assigner.embedding_model, assigner.max_chars, assigner.turn_templates)
    return measure(read_snapshot(art.window_curated), read_assignments(art.window_assignments),
                   read_snapshot(art.curated), read_assignments(art.assignments), [t.task_id for t in catalogue.tasks],
                   sizes, embed, events, cfg.retrain)


@task(name="decide")
def decide(cfg: Config, drift: DriftReport, found: NewTaskSummary) -> list[Decision]:
    """Every task's decision; a task an earlier run decided to train and did not finish is trained now."""
    decisions = plan(drift.tasks, found.new, cfg.retrain, cfg.route.target_agreement)
    state = read_state(Artifacts(cfg.paths).retrain_state)
    pending = state.pending
    for i, decision in enumerate(decisions):
        if not decision.trains and decision.task_id in pending:
            decisions[i] = decision.model_copy(update={
                "action": "retrain", "reasons": [*pending[decision.task_id], "(decided by an earlier run that did "
                                                                              "not finish)"]})
    state.pending = {d.task_id: d.reasons for d in decisions if d.trains}  # a killed run's rerun trains them
    write_state(Artifacts(cfg.paths).retrain_state, state)
    return decisions
