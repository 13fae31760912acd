"""Discovery when agents share one system prompt and put the task's instruction in the user turn.

Real encoder, UMAP and HDBSCAN on small synthetic traces (tests/discovery/synthetic.py): three kinds in three
wordings each behind one generic system prompt, plus two kinds that one instruction serves with different answer
schemas; and a tool-using agent whose calls end either with the user's turn or with a tool's result.
"""

from __future__ import annotations

import random
import re
from collections import Counter

import pytest

from llm2slm.common.config import ClusterConfig, SelectConfig
from llm2slm.discovery.assigner import load_assigner
from llm2slm.discovery.ids import Registry
from llm2slm.discovery.pipeline import Options
from llm2slm.discovery.run import discover_and_fit
from llm2slm.selection.select import select_candidates
from tests.discovery.synthetic import WORDINGS, shared, shared_trace, trace, triage

COUNTS = {"triage": 150, "extract": 110, "tools": 120, "urgency_label": 70, "urgency_json": 70}


def _tasks_of(found, key: dict[str, str]) -> dict[str, Counter]:
    """Per true kind, the tasks its calls went to."""
    became: dict[str, Counter] = {}
    for call_id, task in zip(found.ids, found.task_ids, strict=True):
        became.setdefault(key[call_id], Counter())[task] += 1
    return became


@pytest.fixture(scope="module")
def run():
    records, key = shared_trace(COUNTS, seed=2)
    return discover_and_fit(records, ClusterConfig(), Options(progress=False), Registry()), records, key


def test_three_wordings_of_one_instruction_stay_one_task(run):
    discovered, _, key = run
    became = _tasks_of(discovered.found, key)
    by_id = {t.task_id: t for t in discovered.catalogue.tasks}
    for kind in ("triage", "extract", "tools"):
        (task, n), *rest = became[kind].most_common()
        assert n >= 0.97 * COUNTS[kind] and sum(m for _, m in rest) <= 0.03 * COUNTS[kind], (kind, became[kind])
        entry = by_id[task]
        assert len(entry.instructions) == 3 and entry.routing_safe and entry.last_role == "user"
        # the task holds no call of another kind
        assert sum(1 for k, c in became.items() if k != kind and c.get(task)) == 0


def test_one_instruction_answered_in_two_schemas_is_two_tasks_the_router_cannot_tell_apart(run):
    discovered, _, key = run
    became = _tasks_of(discovered.found, key)
    label_task = became["urgency_label"].most_common(1)[0][0]
    json_task = became["urgency_json"].most_common(1)[0][0]
    assert label_task != json_task
    assert became["urgency_label"][label_task] >= 0.9 * COUNTS["urgency_label"]
    assert became["urgency_json"][json_task] >= 0.9 * COUNTS["urgency_json"]
    by_id = {t.task_id: t for t in discovered.catalogue.tasks}
    assert by_id[label_task].answer_schema == "labels (2)"
    assert by_id[json_task].answer_schema == "JSON {reply_within_hours, urgency}"
    assert not by_id[label_task].routing_safe and by_id[label_task].confused_with == [json_task]
    assert not by_id[json_task].routing_safe and by_id[json_task].confused_with == [label_task]
    assert [t.task_id for t in discovered.catalogue.tasks if not t.routing_safe] == sorted([label_task, json_task])
    # selection keeps them on the LLM and says why
    rows = [{"answer": "high"}] * 60
    selection = select_candidates(by_id[label_task], rows, rows, [], SelectConfig(), offline=True)
    assert selection.decision == "llm" and json_task in selection.reasons[0]


def test_names_come_from_the_answer_schema_and_the_instruction(run):
    discovered, _, key = run
    became = _tasks_of(discovered.found, key)
    by_id = {t.task_id: t for t in discovered.catalogue.tasks}
    names = {kind: by_id[became[kind].most_common(1)[0][0]].name for kind in ("triage", "extract", "tools")}
    assert re.fullmatch(r"classify (\w+ )?into 5 labels", names["triage"]), names
    assert re.fullmatch(r"extract (\w+ )?(origin|destination|date|passengers)(, \w+){2} and 1 more field -> JSON",
                        names["extract"]), names
    assert re.fullmatch(r"call (\w+ )?(get_weather|convert_currency|find_recipe)(, \w+)*", names["tools"]), names
    triage_entry = by_id[became["triage"].most_common(1)[0][0]]
    assert sorted(triage_entry.instructions) == sorted(
        w.format(labels=", ".join(sorted(["cancel_order", "damaged_item", "refund_request", "shipping_delay",
                                          "wrong_size"]))).replace("\n\n", "\n") + ("\n<input>")
        for w in WORDINGS["triage"])


def test_the_saved_assigner_reads_new_calls_with_the_mined_templates(run, tmp_path):
    discovered, _, key = run
    became = _tasks_of(discovered.found, key)
    triage_task = became["triage"].most_common(1)[0][0]
    discovered.assigner.save(tmp_path / "assigner")
    assigner = load_assigner(tmp_path / "assigner")
    assert assigner.turn_templates == discovered.assigner.turn_templates and len(assigner.turn_templates) > 0
    rng = random.Random(99)
    fresh = [shared(triage(10_000 + i, rng), "triage", rng) for i in range(12)]
    embedded = assigner.assign(fresh)
    assert [task for task, _ in embedded] == [triage_task] * 12
    assert assigner.assign(fresh, by_structure=True) == [(triage_task, 1.0)] * 12
    # a wording never seen opens no gate: the call goes to the LLM
    unseen = fresh[0].model_copy(deep=True)
    unseen.messages[-1].content = "Something else entirely, please.\n" + fresh[0].messages[-1].content.split("\n")[-1]
    assert assigner.assign([unseen])[0][0] == "none" and assigner.by_structure(unseen) is None


def test_a_tool_result_and_a_user_turn_of_one_agent_are_one_task():
    """The agent calls the LLM when the user speaks and again when its tool returns: one sub-task (a tool call or
    a reply), so the specialist chooses between them as the LLM did."""
    records, key = trace({"tools": 120, "tool_result": 90}, seed=3)
    discovered = discover_and_fit(records, ClusterConfig(), Options(progress=False), Registry())
    became = _tasks_of(discovered.found, key)
    by_id = {t.task_id: t for t in discovered.catalogue.tasks}
    user_task, n_user = became["tools"].most_common(1)[0]
    tool_task, n_tool = became["tool_result"].most_common(1)[0]
    assert user_task == tool_task and n_user >= 0.95 * 120 and n_tool >= 0.95 * 90
    assert by_id[user_task].last_role == "user" and by_id[user_task].output_shape == "tool_call"
    assert by_id[user_task].routing_safe
