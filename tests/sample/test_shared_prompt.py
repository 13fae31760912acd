"""The shared-prompt variant of the bundled trace: one system prompt, the instruction in the user turn, answers kept."""

from __future__ import annotations

import gzip
import itertools
import re
from collections import defaultdict
from pathlib import Path

import pytest

from llm2slm.common.schema import CallRecord
from llm2slm.sample import SAMPLE_DIR, bundled_trace_path, load_answer_key
from llm2slm.sample.common import ALL_KINDS, KINDS, SGD_KINDS
from llm2slm.sample.records import record_line
from llm2slm.sample.shared_prompt import KEPT_KINDS, SHARED_SYSTEM_PROMPT, WORDINGS_PER_KIND, to_shared_prompt

N = 400
VARIANT = SAMPLE_DIR / "trace_shared_prompt.jsonl.gz"


def _first(path: Path, n: int) -> list[CallRecord]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [CallRecord.model_validate_json(line) for line in itertools.islice(fh, n)]


@pytest.fixture(scope="module")
def key() -> dict[str, str]:
    return load_answer_key()


@pytest.fixture(scope="module")
def original() -> list[CallRecord]:
    return _first(bundled_trace_path(), N)


@pytest.fixture(scope="module")
def shared(original: list[CallRecord], key: dict[str, str]) -> list[CallRecord]:
    return to_shared_prompt(original, key, seed=0)


@pytest.fixture(scope="module")
def pairs(original: list[CallRecord], shared: list[CallRecord], key: dict[str, str]) -> list[tuple[CallRecord, CallRecord]]:
    """(original, shared-prompt) pairs of the calls the variant rewrites (not the multi-turn agents' calls)."""
    return [(b, a) for b, a in zip(original, shared) if key[b.id] not in KEPT_KINDS]


def _instruction(before: CallRecord, after: CallRecord) -> str:
    return after.last_user_message().replace(before.last_user_message(), "", 1).strip()


def test_every_call_has_the_one_shared_system_prompt(pairs: list[tuple[CallRecord, CallRecord]]) -> None:
    assert {after.system_prompt() for _, after in pairs} == {SHARED_SYSTEM_PROMPT}


def test_multi_turn_agents_calls_pass_through(original: list[CallRecord], shared: list[CallRecord],
                                              key: dict[str, str]) -> None:
    assert KEPT_KINDS == set(SGD_KINDS)
    kept = [(b, a) for b, a in zip(original, shared) if key[b.id] in KEPT_KINDS]
    assert len(kept) > 50
    assert all(a == b for b, a in kept)
    assert all(a.system_prompt() != SHARED_SYSTEM_PROMPT for _, a in kept)


def test_at_least_three_wordings_per_kind(pairs: list[tuple[CallRecord, CallRecord]], key: dict[str, str]) -> None:
    wordings: dict[str, set[str]] = defaultdict(set)
    for before, after in pairs:
        wordings[key[before.id]].add(_instruction(before, after))
    assert set(wordings) == set(KINDS)
    for kind in KINDS:
        assert WORDINGS_PER_KIND[kind] >= 3
        assert len(wordings[kind]) >= 3, kind


def test_answers_ids_tools_and_turns_unchanged(original: list[CallRecord], shared: list[CallRecord],
                                               pairs: list[tuple[CallRecord, CallRecord]]) -> None:
    assert len(shared) == len(original)
    for before, after in pairs:
        assert after.model_dump(exclude={"messages"}) == before.model_dump(exclude={"messages"})
        assert [m.role for m in after.messages] == [m.role for m in before.messages]
        assert after.messages[:-1][1:] == before.messages[:-1][1:]  # an earlier assistant turn is kept
        assert before.last_user_message() in after.last_user_message()
        assert _instruction(before, after)


def test_classification_requests_keep_their_label_list(original: list[CallRecord], shared: list[CallRecord],
                                                       key: dict[str, str]) -> None:
    checked = 0
    for before, after in zip(original, shared):
        if key[before.id] in ("intent_routing", "banking_triage"):
            labels = re.search(r"(?m)^- .*(?:\n- .*)*", before.system_prompt())
            assert labels and labels.group(0) in after.last_user_message(), before.id
            checked += 1
        elif key[before.id] == "slot_extraction":
            assert "people, date, time, first_name, last_name" in after.last_user_message()
    assert checked > 100


def test_instruction_before_and_after_the_text(pairs: list[tuple[CallRecord, CallRecord]]) -> None:
    starts = [a.last_user_message().startswith(b.last_user_message()) for b, a in pairs]
    assert any(starts) and not all(starts)


def test_deterministic_for_a_seed_and_differs_for_another(original: list[CallRecord], key: dict[str, str],
                                                          shared: list[CallRecord]) -> None:
    again = to_shared_prompt(original, key, seed=0)
    assert [record_line(r) for r in again] == [record_line(r) for r in shared]
    other = to_shared_prompt(original, key, seed=1)
    assert [record_line(r) for r in other] != [record_line(r) for r in shared]


def test_output_validates_and_never_names_the_task(shared: list[CallRecord], key: dict[str, str]) -> None:
    for record in shared:
        line = record_line(record)
        assert CallRecord.model_validate_json(line) == record
        assert not any(kind in line for kind in ALL_KINDS), record.id


def test_a_resent_request_keeps_its_wording(original: list[CallRecord], key: dict[str, str]) -> None:
    copy = original[0].model_copy(update={"id": "call-resent"})
    out = to_shared_prompt([original[0], copy], {**key, "call-resent": key[original[0].id]})
    assert out[0].messages == out[1].messages


def test_unknown_call_is_refused(original: list[CallRecord]) -> None:
    with pytest.raises(KeyError):
        to_shared_prompt(original[:1], {})


def test_committed_variant_is_up_to_date(original: list[CallRecord], shared: list[CallRecord]) -> None:
    """data/sample/trace_shared_prompt.jsonl.gz is what scripts/shared_prompt_trace.py writes (seed 0)."""
    committed = _first(VARIANT, N)
    assert [record_line(r) for r in committed] == [record_line(r) for r in shared]
