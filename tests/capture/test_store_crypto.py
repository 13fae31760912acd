"""The encrypted store: no plaintext at rest, pseudonyms, torn tails, wrong and rotated master keys, roles."""

import hashlib
import logging
import multiprocessing
import os
import stat
import threading

import pytest

from llm2slm.capture.crypto import MasterKey, MasterKeyError
from llm2slm.capture.keys import AuthError, Principal, Role
from llm2slm.capture.segments import CorruptSegmentError
from llm2slm.capture.store import CallStore
from tests.factories import make_record

CURATOR = Principal(key_id="000000000001", name="test-curator", role=Role.CURATOR)
PII = ["jane.roe@example.org", "Jane Roe", "user-4242-jane", "sess-77-secret", "jane-roe-assistant"]


def planted(i: int):
    record = make_record(i, f"Hi, I am {PII[1]}, write to {PII[0]} about my refund",
                         answer=f"Sure {PII[1]}, I will email {PII[0]}.")
    source = record.source.model_copy(update={"agent": PII[4], "user": PII[2], "session": PII[3]})
    return record.model_copy(update={"source": source})


def files_under(folder):
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def segment_files(store):
    return sorted(store.segments_dir.glob("*.seg"))


def test_round_trip_keeps_records_and_replaces_source_ids_by_stable_pseudonyms(tmp_path):
    store = CallStore(tmp_path / "store", MasterKey.generate())
    originals = [planted(i) for i in range(3)]
    assert store.append(originals).stored == 3
    back = list(store.read(CURATOR))
    assert [r.id for r in back] == [r.id for r in originals]
    for before, after in zip(originals, back):
        assert after.model_dump(exclude={"source"}) == before.model_dump(exclude={"source"})
        assert after.source.user != PII[2] and after.source.user.startswith("user-")
    assert len({r.source.user for r in back}) == 1 and len({r.source.session for r in back}) == 1
    assert back[0].source.agent != back[0].source.user


def test_planted_pii_appears_nowhere_in_plaintext_under_the_store_folder(tmp_path):
    store = CallStore(tmp_path / "store", MasterKey.generate())
    store.append([planted(i) for i in range(20)])
    store.append([planted(i) for i in range(20, 25)])
    assert store.count() == 25
    store.close()  # writes the sealed segment's id index too
    assert list((tmp_path / "store").rglob("*.idx"))
    contents = files_under(tmp_path / "store")
    assert any(p.suffix == ".seg" for p in contents)
    for path, data in contents.items():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
        for secret in PII + ["refund", "call-000003"]:
            for encoded in (secret.encode(), secret.encode("utf-16-le"), secret.lower().encode()):
                assert encoded not in data, f"{secret!r} in plaintext in {path.name}"


def test_every_read_path_refuses_roles_other_than_curator(tmp_path):
    store = CallStore(tmp_path / "store", MasterKey.generate())
    store.append([make_record(1, "q")])
    for role in (Role.AGENT, Role.ADMIN):
        with pytest.raises(AuthError) as caught:
            list(store.read(Principal(key_id="000000000009", name="x", role=role)))
        assert caught.value.status == 403
    assert not hasattr(store, "iter_records")


def test_a_torn_tail_is_skipped_with_a_warning_and_the_next_writer_uses_a_new_segment(tmp_path, caplog):
    key = MasterKey.generate()
    store = CallStore(tmp_path / "store", key)
    store.append([make_record(i, f"q{i}") for i in range(3)])
    store.append([make_record(i, f"q{i}") for i in range(3, 5)])
    store.close()
    (segment,) = segment_files(store)
    size = segment.stat().st_size
    os.truncate(segment, size - 40)  # the crash cut the last frame
    with caplog.at_level(logging.WARNING, logger="llm2slm.capture.segments"):
        reader = CallStore(tmp_path / "store", key)
        assert [r.id for r in reader.read(CURATOR)] == [f"call-{i:06d}" for i in range(4)]
    warning = next(r.getMessage() for r in caplog.records if "torn tail" in r.getMessage())
    assert segment.name in warning and "offset" in warning
    # the lost record is not counted as stored: storing it again works, in a new segment
    assert reader.count() == 4
    assert reader.append([make_record(4, "q4"), make_record(5, "q5")]).stored == 2
    assert len(segment_files(reader)) == 2 and segment.stat().st_size == size - 40
    assert [r.id for r in reader.read(CURATOR)] == [f"call-{i:06d}" for i in range(6)]


def test_a_zero_filled_tail_is_torn_but_damage_in_the_middle_is_an_error(tmp_path):
    key = MasterKey.generate()
    store = CallStore(tmp_path / "store", key)
    store.append([make_record(i, f"q{i}") for i in range(4)])
    (segment,) = segment_files(store)
    original = segment.read_bytes()
    with open(segment, "ab") as handle:
        handle.write(b"\x00" * 100)
    assert len(list(store.read(CURATOR))) == 4
    damaged = bytearray(original)
    damaged[60] ^= 0x01  # inside the first frame's ciphertext
    segment.write_bytes(bytes(damaged))
    with pytest.raises(CorruptSegmentError, match="frame 0"):
        list(CallStore(tmp_path / "store", key).read(CURATOR))


def test_a_wrong_master_key_is_a_clear_error(tmp_path):
    right = MasterKey.generate()
    CallStore(tmp_path / "store", right).append([make_record(1, "q")])
    wrong = MasterKey.generate()
    with pytest.raises(MasterKeyError) as caught:
        CallStore(tmp_path / "store", wrong)
    assert "wrong master key" in str(caught.value)
    assert right.fingerprint in str(caught.value) and wrong.fingerprint in str(caught.value)


def test_rotation_rewraps_keys_only_and_keeps_every_record_and_pseudonym(tmp_path):
    old, new = MasterKey.generate(), MasterKey.generate()
    store = CallStore(tmp_path / "store", old, segment_max_bytes=4096)
    store.append([planted(i) for i in range(6)])
    store.close()
    store = CallStore(tmp_path / "store", old, segment_max_bytes=4096)
    store.append([make_record(i, f"q{i}") for i in range(10, 20)])
    before = list(store.read(CURATOR))
    data_before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in segment_files(store)}
    assert len(data_before) >= 2
    assert store.rotate_master(new) == len(data_before)
    data_after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in segment_files(store)}
    assert data_after == data_before
    reopened = CallStore(tmp_path / "store", new)
    assert list(reopened.read(CURATOR)) == before
    with pytest.raises(MasterKeyError):
        CallStore(tmp_path / "store", old)
    reopened.append([planted(99)])
    last = list(reopened.read(CURATOR))[-1]
    assert (last.source.user, last.source.session) == (before[0].source.user, before[0].source.session)


def test_one_fsync_per_batch(tmp_path, monkeypatch):
    store = CallStore(tmp_path / "store", MasterKey.generate())
    store.append([make_record(0, "first")])  # creates the envelope and the segment
    calls = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real_fsync(fd)))
    assert store.append([make_record(i, f"q{i}") for i in range(1, 501)]).stored == 500
    assert len(calls) == 1


def test_a_failed_write_is_truncated_and_the_store_moves_to_a_new_segment(tmp_path, monkeypatch):
    store = CallStore(tmp_path / "store", MasterKey.generate())
    store.append([make_record(0, "first")])
    (segment,) = segment_files(store)
    size = segment.stat().st_size
    real_fsync = os.fsync

    def failing(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing)
    with pytest.raises(OSError):
        store.append([make_record(1, "lost")])
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert segment.stat().st_size == size
    assert store.append([make_record(1, "again")]).stored == 1
    assert len(segment_files(store)) == 2
    assert [r.id for r in store.read(CURATOR)] == ["call-000000", "call-000001"]


def _append_range(root: str, key_text: str, start: int, stop: int) -> None:
    store = CallStore(root, MasterKey.from_text(key_text))
    for first in range(start, stop, 25):
        store.append([make_record(i, f"q{i}") for i in range(first, min(first + 25, stop))])


def test_threads_and_processes_appending_at_once_store_each_id_once(tmp_path):
    key = MasterKey.generate()
    root = str(tmp_path / "store")
    store = CallStore(root, key)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_append_range, args=(root, key.to_text(), 0, 300)),
             ctx.Process(target=_append_range, args=(root, key.to_text(), 150, 450))]
    threads = [threading.Thread(target=store.append, args=([make_record(i, f"q{i}") for i in range(j, j + 40)],))
               for j in (400, 420, 440)]
    for worker in procs + threads:
        worker.start()
    for worker in procs + threads:
        worker.join(60)
    assert all(p.exitcode == 0 for p in procs)
    ids = [r.id for r in store.read(CURATOR)]
    assert len(ids) == len(set(ids)) == 480 and store.count() == 480


def test_each_writer_sees_ids_another_writer_added_after_its_first_look(tmp_path):
    key = MasterKey.generate()
    first, second = CallStore(tmp_path / "store", key), CallStore(tmp_path / "store", key)
    first.append([make_record(0, "a")])
    second.append([make_record(1, "b")])
    first.append([make_record(2, "c")])
    second.append([make_record(3, "d"), make_record(4, "e")])  # frames 1 and 2 of the second writer's segment
    result = first.append([make_record(i, "again") for i in range(5)] + [make_record(5, "f")])
    assert (result.stored, result.skipped) == (1, 5)
    assert len(segment_files(first)) == 2 and first.count() == second.count() == 6


def test_a_sealed_segments_index_spares_decryption_and_a_mismatched_one_is_ignored(tmp_path, monkeypatch):
    key = MasterKey.generate()
    with CallStore(tmp_path / "store", key) as store:
        store.append([make_record(i, f"q{i}") for i in range(5)])
    (segment,) = segment_files(store)
    assert segment.with_suffix(".idx").stat().st_size == 8 + 16 + 5 * 16

    def no_decryption(*args, **kwargs):
        raise AssertionError("a sealed segment was decrypted")

    monkeypatch.setattr("llm2slm.capture.store.iter_frames", no_decryption)
    reopened = CallStore(tmp_path / "store", key)
    assert reopened.append([make_record(i, "again") for i in range(5)]).skipped == 5
    monkeypatch.undo()
    os.truncate(segment, segment.stat().st_size - 10)  # the index no longer matches: the segment is scanned
    assert CallStore(tmp_path / "store", key).count() == 4
