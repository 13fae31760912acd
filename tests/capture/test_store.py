import gzip
import json

import pytest

from llm2slm.capture.keys import Principal, Role
from llm2slm.capture import CallStore, IngestError, MasterKey
from tests.factories import make_record, record_line

CURATOR = Principal(key_id="000000000001", name="test-curator", role=Role.CURATOR)


def write(path, lines):
    path.write_text("".join(lines))
    return path


@pytest.fixture
def store(tmp_path):
    return CallStore(tmp_path / "store", MasterKey.generate())


def test_ingest_appends_valid_records_once(tmp_path, store):
    trace = write(tmp_path / "calls.jsonl", [record_line(make_record(i, f"q{i}")) for i in range(5)])
    report = store.ingest(trace)
    assert (report.read, report.stored, report.already_stored) == (5, 5, 0)
    again = store.ingest(trace)
    assert (again.stored, again.already_stored) == (0, 5)
    assert store.count() == 5
    assert [r.id for r in store.read(CURATOR)] == [f"call-{i:06d}" for i in range(5)]


def test_gzipped_files_are_read(tmp_path, store):
    path = tmp_path / "calls.jsonl.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(record_line(make_record(1, "hello")))
    assert store.ingest(path).stored == 1


def test_malformed_lines_are_reported_by_number_and_nothing_is_stored(tmp_path, store):
    good = record_line(make_record(1, "fine"))
    bad_json = "{not json\n"
    bad_field = json.dumps({**json.loads(good), "latency_ms": -5}) + "\n"
    trace = write(tmp_path / "calls.jsonl", [good, bad_json, "\n", bad_field])
    with pytest.raises(IngestError) as caught:
        store.ingest(trace)
    lines = [line for line, _ in caught.value.problems]
    assert lines == [2, 4]
    assert "latency_ms" in str(caught.value) and "nothing was stored" in str(caught.value)
    assert store.count() == 0 and not list(tmp_path.glob("store/segments/*"))


def test_empty_and_missing_files_are_rejected(tmp_path, store):
    with pytest.raises(IngestError, match="no call records"):
        store.ingest(write(tmp_path / "empty.jsonl", ["\n"]))
    with pytest.raises(IngestError, match="no such file"):
        store.ingest(tmp_path / "absent.jsonl")


def test_time_window_filters_records(store):
    store.append([make_record(i, f"q{i}") for i in range(10)])
    records = list(store.read(CURATOR))
    window = list(store.read(CURATOR, since=records[2].timestamp, until=records[5].timestamp))
    assert [r.id for r in window] == [r.id for r in records[2:5]]


def test_a_writer_with_a_lagging_view_of_the_folder_never_reuses_a_started_segment(tmp_path, monkeypatch):
    key = MasterKey.generate()
    first = CallStore(tmp_path / "store", key)
    first.append([make_record(1, "from the first writer")])
    late = CallStore(tmp_path / "store", key)
    # the folder as a network filesystem's stale attribute cache may show it: no segment yet
    monkeypatch.setattr(late, "segment_sizes", lambda: {})
    assert late.append([make_record(2, "from the late writer")]).segment == "seg-000002"
    monkeypatch.undo()
    reader = CallStore(tmp_path / "store", key)
    assert [r.id for r in reader.read(CURATOR)] == ["call-000001", "call-000002"]
