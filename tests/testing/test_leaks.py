"""The leak scanner reads inside Parquet, gzip and JSON files, whatever their names."""

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq

from llm2slm.testing.leaks import find_values, readable_text


def test_values_are_found_inside_parquet_gzip_and_escaped_json(tmp_path):
    pq.write_table(pa.table({"text": ["call from Zoë Ångström today", "nothing"]}), tmp_path / "a1b2c3")
    (tmp_path / "calls.gz").write_bytes(gzip.compress(b'{"to": "ann.lee@mail.com"}\n'))
    (tmp_path / "escaped.json").write_text(json.dumps({"who": "José Núñez"}))  # ASCII escapes on disk
    (tmp_path / "clean.txt").write_text("Zoe and Jose, and ann.lee@mail.community")
    assert "Zoë" not in (tmp_path / "a1b2c3").read_bytes().decode("latin-1")  # compressed: a grep misses it
    found = find_values(tmp_path, ["Zoë Ångström", "ann.lee@mail.com", "José Núñez", "absent"])
    assert found == {tmp_path / "a1b2c3": {"Zoë Ångström"}, tmp_path / "calls.gz": {"ann.lee@mail.com"},
                     tmp_path / "escaped.json": {"José Núñez"}}


def test_json_lines_and_broken_gzip_are_read_as_far_as_they_go():
    assert readable_text(b'{"a": "\\u00e9"}\n{"b": 1}\n') == '{"a": "é"}\n{"b": 1}'
    assert readable_text(b"\x1f\x8bnot gzip") == ""
