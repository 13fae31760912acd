"""The one atomic write: a failed write leaves the old file; modes; private folders; sorted JSON."""

from __future__ import annotations

import json
import stat

import pytest

from llm2slm.common.files import (PRIVATE_FILE, atomic_path, atomic_write_text, private_dir, write_json,
                                  write_jsonl)
from llm2slm.curation.audit import write_admin_examples


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_outputs_are_public_secrets_private_and_json_is_sorted(tmp_path):
    write_json(tmp_path / "a" / "x.json", {"b": 1, "a": "é"})
    assert (tmp_path / "a" / "x.json").read_text(encoding="utf-8") == '{\n  "a": "é",\n  "b": 1\n}\n'
    assert _mode(tmp_path / "a" / "x.json") == 0o644
    write_jsonl(tmp_path / "r.jsonl", [{"b": 2, "a": 1}, {"c": 3}])
    assert (tmp_path / "r.jsonl").read_text().splitlines() == ['{"a": 1, "b": 2}', '{"c": 3}']
    atomic_write_text(tmp_path / "secret.txt", "s", mode=PRIVATE_FILE)
    assert _mode(tmp_path / "secret.txt") == 0o600
    folder = tmp_path / "p"
    folder.mkdir(mode=0o755)
    assert private_dir(folder) == folder and _mode(folder) == 0o700


def test_admin_examples_are_owner_only(tmp_path):
    path = tmp_path / "home" / "admin" / "curate_examples.jsonl"
    write_admin_examples(path, [{"id": "c1", "fields": []}, {"id": "c2", "fields": []}])
    assert [json.loads(line)["id"] for line in path.read_text().splitlines()] == ["c1", "c2"]
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["curate_examples.jsonl"]
