"""What the registry says about a specialist: the model description built from the task's catalogue entry."""

from __future__ import annotations

from llm2slm.discovery.catalogue import Exemplar, TaskEntry
from llm2slm.evaluation.evaluate import Evaluation
from llm2slm.registry.outcomes import model_description, task_outcome
from llm2slm.selection.select import Selection


def _task(**extra) -> TaskEntry:
    return TaskEntry(task_id="task-02", name="extract booking people, time, date -> JSON", keywords=["table", "book"],
                     size=4165, exemplars=[Exemplar(id="c1", text="a table for <PERSON_1> at 7")],
                     output_shape="json", n_distinct_answers=1530, tokens={}, **extra)


def test_the_description_names_the_task_its_schema_and_its_instruction():
    task = _task(instructions=["Extract the booking details:\n<input>", "Pull the fields:\n<input>"],
                 answer_schema="JSON {people, time}", last_role="user")
    assert model_description(task, "json_spans") == (
        "extract booking people, time, date -> JSON: a json_spans task of 4,165 calls (1,530 distinct answers), "
        "discovered by llm2slm as task-02.\n"
        "Answers: JSON {people, time}; its calls end with a user message.\n"
        "Instruction (2 wording(s)), e.g.: Extract the booking details: / <input>\n"
        "Keywords: table, book.\nExample calls:\n- a table for <PERSON_1> at 7")


def test_a_catalogue_from_before_schemas_still_describes_its_task():
    assert model_description(_task(), "json").splitlines()[1:] == [
        "Keywords: table, book.", "Example calls:", "- a table for <PERSON_1> at 7"]


def _evaluation(**extra) -> Evaluation:
    return Evaluation(task_id="task-02", candidate="minilm-span-tagger", output_shape="json_spans", n_test=40,
                      metrics={"agreement": 0.92, "latency_ms_p50": 4.0, "latency_ms_p95": 6.0}, usage_source="logged",
                      examples=[], **extra)


def test_the_outcome_carries_both_agreements_of_the_best_candidate():
    choice = Selection(task_id="task-02", decision="specialist", output_shape="json_spans", n_train=300,
                       n_distinct_answers=12, candidate="minilm-span-tagger", reasons=[])
    measured = task_outcome(_task(), choice, _evaluation(raw_metrics={"agreement": 0.875}, n_raw=40))
    assert (measured.agreement, measured.raw_agreement, measured.latency_ms_p50) == (0.92, 0.875, 4.0)
    skipped = task_outcome(_task(), choice, _evaluation(raw_skipped="the call store could not be read: x"))
    assert skipped.agreement == 0.92 and skipped.raw_agreement is None
