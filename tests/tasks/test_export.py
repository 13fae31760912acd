"""No captured text in clear leaves the store: export writes a manifest of the window, curate reads the calls from
the encrypted store, checks them against it and writes the scrubbed snapshot owner-only."""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
from datetime import timedelta

import pytest

from llm2slm.capture import open_store, pipeline_principal
from llm2slm.capture.export import WindowChangedError, export_records
from llm2slm.common.snapshot import read_snapshot, write_snapshot
from llm2slm.curation.pipeline import curate_records
from tasks.curate import curate
from tasks.export import export
from tests.factories import BASE, make_record
from tests.tasks.conftest import capture

EMAIL = "planted.person@example.org"


def _records(n: int = 6, first: int = 0) -> list:
    return [make_record(i, f"order {i}: write to {EMAIL} or call +1 415-555-01{i % 100:02d}", answer=f"noted {i}")
            for i in range(first, first + n)]


def test_export_writes_a_manifest_of_the_window_and_no_call_text(cfg, art):
    with open_store(cfg) as store:
        store.append(_records())
    manifest = export.fn(cfg, since=BASE + timedelta(minutes=1), until=BASE + timedelta(minutes=4))
    text = art.raw_manifest.read_text()
    assert EMAIL not in text and "order 1" not in text and "noted" not in text
    written = json.loads(text)
    ids = "".join(f"call-{i:06d}\n" for i in (1, 2, 3))
    assert written["n_calls"] == manifest.n_calls == 3
    assert written["ids_sha256"] == hashlib.sha256(ids.encode()).hexdigest()
    assert written["first"].startswith("2026-10-01T00:01") and written["last"].startswith("2026-10-01T00:03")
    assert written["since"].startswith("2026-10-01T00:01") and written["until"].startswith("2026-10-01T00:04")
    (segment, size), = written["segments"].items()
    assert size == (art.store / "segments" / f"{segment}.seg").stat().st_size
    assert not list(art.raw_manifest.parent.glob("*.parquet")), "export writes no snapshot"


def test_curate_reads_the_store_and_gives_the_snapshot_the_raw_file_gave(cfg, art, tmp_path):
    repeat = make_record(40, _records(1)[0].last_user_message(), answer="noted 0")  # a later duplicate of call 0
    capture(cfg, [repeat, *reversed(_records())])  # write order is not time order: calls are curated in time order
    assert curate.fn(cfg).removed == {"duplicate": 1}
    # the former path: the store's calls exported to a file, read back and curated
    with open_store(cfg) as store:
        export_records(store, pipeline_principal(cfg), tmp_path / "raw.parquet", lambda r: r)
    before = tmp_path / "before.parquet"
    write_snapshot(curate_records(read_snapshot(tmp_path / "raw.parquet"), cfg.curate).records, before)
    assert art.curated.read_bytes() == before.read_bytes()
    assert {r.id for r in read_snapshot(art.curated)} == {f"call-{i:06d}" for i in range(6)}
    assert EMAIL not in str([r.model_dump() for r in read_snapshot(art.curated)])


def test_calls_appended_after_export_are_not_read(cfg, art):
    capture(cfg, _records(4))
    with open_store(cfg) as store:  # the gateway goes on recording while the conversion runs
        store.append([make_record(50, "a later call")])
    assert curate.fn(cfg).n_in == 4


@pytest.mark.parametrize("replacement, why", [(8, "ids hash to"), (2, "missing or shorter")])
def test_a_store_whose_window_changed_since_export_is_refused_and_nothing_is_written(cfg, art, replacement, why):
    capture(cfg, _records(4))
    shutil.rmtree(art.store)  # the store was replaced (same keys, other calls)
    with open_store(cfg) as store:
        store.append(_records(replacement, first=1))
    with pytest.raises(WindowChangedError, match=f"changed since export: .*{why}.*Re-run the export stage"):
        curate.fn(cfg)
    assert not art.curated.exists() and not art.curate_audit.exists() and not art.admin_examples.exists()


def test_the_curated_snapshot_is_owner_only(cfg, art):
    capture(cfg, _records())
    curate.fn(cfg)
    assert stat.S_IMODE(art.curated.stat().st_mode) == 0o600
    assert stat.S_IMODE(art.curated.parent.stat().st_mode) == 0o700
