import json

from llm2slm.config import CurateConfig
from llm2slm.curation.scrub import CallScrubber, luhn_valid
from llm2slm.snapshot import read_snapshot, write_snapshot
from tasks.curate import curate, curate_records, scrub_record
from tests.factories import make_record

CARD = "4111 1111 1111 1111"


def test_luhn():
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")


def test_every_kind_is_replaced_with_consistent_typed_placeholders():
    record = make_record(1, f"I'm at jane.roe@example.org, call (821) 593-4387, card {CARD}; again jane.roe@example.org",
                         answer="Noted jane.roe@example.org")
    scrubber = CallScrubber()
    clean = scrub_record(record, scrubber)
    user = clean.last_user_message()
    assert "jane.roe" not in user and "593-4387" not in user and "4111" not in user
    assert user.count("<EMAIL_1>") == 2 and "<PHONE_1>" in user and "<CREDIT_CARD_1>" in user
    assert clean.response.content == "Noted <EMAIL_1>"  # the same value, the same placeholder, across fields
    assert scrubber.counts[("EMAIL", "response")] == 1


def test_tool_arguments_are_scrubbed_and_stay_valid_json():
    record = make_record(2, "email bob", tool_calls=[{"name": "send", "arguments": {"to": "bob@mail.com"}}])
    clean = scrub_record(record, CallScrubber())
    assert json.loads(clean.response.tool_calls[0].function.arguments) == {"to": "<EMAIL_1>"}


def test_a_call_without_pii_passes_unchanged():
    record = make_record(3, "book a table for 4 people at 7:30pm on 2026-10-01, order 12345")
    assert scrub_record(record, CallScrubber()) == record


def test_failed_and_duplicate_calls_are_dropped_and_counted():
    ok = [make_record(i, f"question {i}") for i in range(4)]
    duplicate = make_record(10, "question 1")
    failed = make_record(11, "boom", answer="", status="error", finish_reason="error", error="upstream timeout")
    kept, audit = curate_records([*ok, duplicate, failed], CurateConfig())
    assert [r.id for r in kept] == [r.id for r in ok]
    assert audit.removed == {"duplicate": 1, "failed": 1}
    assert (audit.n_in, audit.n_out) == (6, 4)


def test_stage_writes_snapshot_and_audit_without_values(tmp_path):
    records = [make_record(1, "mail me: a.b@c.io"), make_record(2, "no pii here")]
    write_snapshot(records, tmp_path / "raw.parquet")
    audit = curate.fn(tmp_path / "raw.parquet", tmp_path / "cur.parquet", tmp_path / "audit.json", CurateConfig())
    assert audit.replaced == {"EMAIL": 1} and audit.calls_with_pii == 1
    text = (tmp_path / "audit.json").read_text()
    assert "a.b@c.io" not in text
    assert "a.b@c.io" not in str([r.model_dump() for r in read_snapshot(tmp_path / "cur.parquet")])


def test_international_phone_formats_are_found_and_numbers_that_are_not_phones_are_kept():
    phones = ["+41 (0)62 585 51 90", "0688 843 79 56", "+447700677662", "9472 7916", "780 6326", "99 577450",
              "0961-7596216", "(821)593-4387", "001-310-383-6781x521"]
    for phone in phones:
        assert CallScrubber().scrub(f"reach me at {phone} please", "u") == "reach me at <PHONE_1> please", phone
    for text in ("the 2019-2020 season", "at 33.4484 N", "on 2026-10-01", "order 12345", "seat 9 people at 7:30"):
        assert CallScrubber().scrub(text, "u") == text
