"""What the registry says about a specialist: the model description built from the task's catalogue entry."""

from __future__ import annotations

from llm2slm.discovery.catalogue import Exemplar, TaskEntry
from llm2slm.registry.outcomes import model_description


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
