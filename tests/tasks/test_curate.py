import json
import stat

import pytest

from llm2slm.common.artifacts import Artifacts
from llm2slm.common.config import CurateConfig
from llm2slm.common.snapshot import read_snapshot
from llm2slm.curation.pipeline import CurationError, curate_records
from tasks.curate import curate
from tests.factories import make_record
from tests.tasks.conftest import capture, project_config

CARD = "4111 1111 1111 1111"


def test_failed_and_duplicate_calls_are_dropped_and_counted():
    ok = [make_record(i, f"question {i}") for i in range(4)]
    duplicate = make_record(10, "question 1")
    failed = make_record(11, "boom", answer="", status="error", finish_reason="error", error="upstream timeout")
    curated = curate_records([*ok, duplicate, failed], CurateConfig(policy={}))
    kept, audit = curated.records, curated.audit
    assert [r.id for r in kept] == [r.id for r in ok]
    assert audit.removed == {"duplicate": 1, "error": 1}
    assert (audit.n_in, audit.n_out) == (6, 4)


def test_calls_that_differ_only_in_personal_data_are_duplicates_after_placeholders():
    first = make_record(1, "My email is ann@mail.com, please reset my password link")
    second = make_record(2, "My email is bob@site.org, please reset my password link")
    curated = curate_records([first, second], CurateConfig(policy={"EMAIL": "placeholder"}))
    kept, audit = curated.records, curated.audit
    assert [r.id for r in kept] == ["call-000001"] and audit.removed == {"duplicate": 1}


def test_stage_writes_snapshot_audit_and_admin_only_examples(tmp_path):
    records = [make_record(1, f"mail me: a.b@c.io, card {CARD}", answer="Noted a.b@c.io"),
               make_record(2, "no pii here")]
    cfg = project_config(tmp_path, curate={"policy": {"EMAIL": "placeholder", "PHONE": "placeholder",
                                                      "CREDIT_CARD": "placeholder"}})
    art = Artifacts(cfg.paths)
    capture(cfg, records)
    examples = art.admin_examples
    audit = curate.fn(cfg)
    assert audit.replaced == {"CREDIT_CARD": 1, "EMAIL": 2} and audit.calls_with_pii == 1
    assert audit.replaced_by_field == {"messages.user": {"CREDIT_CARD": 1, "EMAIL": 1}, "response": {"EMAIL": 1}}
    text = art.curate_audit.read_text()
    assert "a.b@c.io" not in text and json.loads(text)["n_out"] == 2
    curated = str([r.model_dump() for r in read_snapshot(art.curated)])
    assert "a.b@c.io" not in curated and "<EMAIL_1>" in curated
    assert stat.S_IMODE(examples.stat().st_mode) == 0o600 and stat.S_IMODE(examples.parent.stat().st_mode) == 0o700
    (example,) = [json.loads(line) for line in examples.read_text().splitlines()]
    assert example["id"] == "call-000001"
    assert {f["field"] for f in example["fields"]} == {"messages.1.content", "response.content"}
    assert any("a.b@c.io" in f["before"] and "<EMAIL_1>" in f["after"] for f in example["fields"])


def test_curation_is_deterministic(tmp_path):
    records = [make_record(i, f"I'm Maria Garcia, call +1 415-555-01{i:02d} about order {i}") for i in range(30)]
    records += [make_record(100 + i, records[i].last_user_message() + "!") for i in range(5)]
    cfg = project_config(tmp_path)
    art = Artifacts(cfg.paths)
    capture(cfg, records)
    outputs = []
    for _ in range(2):
        curate.fn(cfg)
        outputs.append((art.curated.read_bytes(), art.curate_audit.read_text()))
    assert outputs[0] == outputs[1]


def test_nothing_left_or_nothing_in_is_refused_and_nothing_is_written(tmp_path):
    cfg = project_config(tmp_path)
    art = Artifacts(cfg.paths)
    capture(cfg, [make_record(1, "boom", answer="", status="error", finish_reason="error")])
    with pytest.raises(CurationError, match="nothing left to learn from"):
        curate.fn(cfg)
    assert not art.curated.exists() and not art.curate_audit.exists()
    with pytest.raises(CurationError, match="empty"):
        curate_records([], CurateConfig())


def test_audit_names_the_tagger_that_scrubbed_names(tmp_path):
    records = [make_record(1, "Please ask Maria Gonzalez about my order")]
    with_names = curate_records(records, CurateConfig(policy={"PERSON": "surrogate"}, dedup="none")).audit
    without = curate_records(records, CurateConfig(policy={"EMAIL": "surrogate"}, dedup="none")).audit
    assert with_names.ner_model.startswith("ner_tagger.npz sha256:") and len(with_names.ner_model) == 38
    assert without.ner_model == ""
    other = tmp_path / "ner_tagger.npz"
    other.write_bytes(b"another model")
    from llm2slm.curation.ner import model_fingerprint
    assert model_fingerprint(other) != with_names.ner_model
