"""The planted values of the bundled trace can be read back from its user messages (what the leak test looks for)."""

from llm2slm.capture import parse_jsonl
from llm2slm.sample import bundled_answer_key_path, bundled_trace_path, read_answer_key
from llm2slm.sample.common import default_sources_dir
from llm2slm.sample.pii import load_values, planted_values


def test_planted_values_are_the_known_values_the_message_holds():
    values = {"PERSON": ["Ada Byron", "Ada B"], "PHONE_NUMBER": ["+44 20 7946 0958"]}
    text = "where is my card? Thanks, Ada Byron, +44 20 7946 0958"
    assert planted_values(text, ("PERSON", "PHONE_NUMBER"), values) == ["Ada Byron", "+44 20 7946 0958"]
    assert planted_values("where is my card?", ("PERSON",), values) == []


def test_every_planted_call_of_the_bundled_trace_gives_a_value_of_each_type():
    values = load_values(default_sources_dir())
    key = {row["id"]: row["pii_types"] for row in read_answer_key(bundled_answer_key_path())}
    planted = [(r, key[r.id].split(";")) for r in parse_jsonl(bundled_trace_path()) if key[r.id]]
    assert len(planted) == 2113  # 1,463 single-call records and 650 calls of the multi-turn agents
    for record, types in planted:
        users = " ".join(m.content or "" for m in record.messages if m.role == "user")  # multi-turn: any user turn
        for kind in types:
            assert planted_values(users, (kind,), values), (record.id, kind)
