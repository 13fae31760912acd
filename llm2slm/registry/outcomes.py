"""What a conversion ends with: per discovered task, what was decided, measured and registered.

The flow builds one `TaskOutcome` per task from the typed results of its stages and a `ConversionSummary` of the
whole run; the CLI prints them and the conversion's MLflow run keeps them as `summary.json`.
"""

from __future__ import annotations

from pydantic import BaseModel

from llm2slm.discovery.catalogue import TaskEntry
from llm2slm.evaluation.evaluate import Evaluation
from llm2slm.registry.versions import RegisteredVersion
from llm2slm.selection.select import Selection


class TaskOutcome(BaseModel):
    task_id: str
    name: str
    calls: int
    output_shape: str
    decision: str  # specialist | llm | failed
    candidate: str | None = None
    agreement: float | None = None  # on the scrubbed test calls
    raw_agreement: float | None = None  # on the same calls as captured (None: not measured, e.g. no store)
    latency_ms_p50: float | None = None
    model_name: str | None = None
    version: str | None = None
    aliases: list[str] = []
    error: str | None = None
    reasons: list[str] = []
    model_kind: str | None = None  # classifier | span_tagger | generator, when selection chose one
    notes: list[str] = []  # a trained task's limits: what a generator's budget left out, the gate's misses


class ConversionSummary(BaseModel):
    n_calls: int
    n_curated: int
    n_tasks: int
    n_outliers: int
    data_hashes: dict[str, str]
    parent_run_id: str
    outcomes: list[TaskOutcome]
    reused: list[str] = []  # data stages whose result an earlier run computed with the same inputs (resume)

    def metrics(self) -> dict[str, float]:
        trained = [o for o in self.outcomes if o.agreement is not None]
        return {"n_calls": self.n_calls, "n_tasks": self.n_tasks, "n_trained": len(trained)}


def model_description(task: TaskEntry, shape: str) -> str:
    """The registered model's description in MLflow: the task's name, the shape its specialist serves, its size,
    answer schema, instruction, keywords and a few of its (scrubbed) calls, so the registry says what the
    specialist does."""
    lines = [f"{task.name}: a {shape} task of {task.size:,} calls ({task.n_distinct_answers:,} distinct "
             f"answers), discovered by llm2slm as {task.task_id}."]
    if task.answer_schema:
        lines.append(f"Answers: {task.answer_schema}; its calls end with a {task.last_role} message.")
    if task.instructions:
        first = task.instructions[0].replace("\n", " / ")
        lines.append(f"Instruction ({len(task.instructions)} wording(s)), e.g.: {first}")
    lines += [f"Keywords: {', '.join(task.keywords)}.", "Example calls:", *(f"- {e.text}" for e in task.exemplars)]
    return "\n".join(lines)


def task_outcome(task: TaskEntry, choice: Selection, best: Evaluation | None = None,
                 version: RegisteredVersion | None = None, budget: str | None = None) -> TaskOutcome:
    """A task's outcome from its selection and, when it was trained, its best evaluation, registered version and
    (a generator) what its training budget kept."""
    outcome = TaskOutcome(task_id=task.task_id, name=task.name, calls=task.size, output_shape=choice.output_shape,
                          decision=choice.decision, candidate=choice.candidate, reasons=choice.reasons,
                          model_kind=choice.model_kind if choice.decision == "specialist" else None)
    if best is not None:
        outcome = outcome.model_copy(update={"candidate": best.candidate, "agreement": best.agreement,
                                             "raw_agreement": best.raw_agreement,
                                             "latency_ms_p50": best.latency_ms_p50})
    notes = [f"trained on {budget} (finetune.generator_max_train_calls / generator_max_train_tokens)"] if budget else []
    if version is not None:
        if not version.gate_passed:
            misses = [r for r in version.gate_reasons if "FAIL" in r] or version.gate_reasons
            notes.append("not champion: " + "; ".join(misses))
        outcome = outcome.model_copy(update={"model_name": version.name, "version": version.version,
                                             "aliases": version.aliases})
    return outcome.model_copy(update={"notes": notes})


def failed_outcome(task: TaskEntry, message: str) -> TaskOutcome:
    return TaskOutcome(task_id=task.task_id, name=task.name, calls=task.size, output_shape=task.output_shape,
                       decision="failed", error=message[:300])
