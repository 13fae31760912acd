"""The bundled sample trace: a small build is deterministic and well-formed; the committed trace is as described."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pytest

from llm2slm.sample import bundled_answer_key_path, bundled_trace_path, load_answer_key, read_answer_key
from llm2slm.sample.build import ANSWER_KEY_FILE, TRACE_FILE, build_sample
from llm2slm.sample.common import ALL_KINDS, KINDS, SGD_KINDS
from llm2slm.sample.tools import convert_schema, resolve, tool_name
from llm2slm.common.schema import CallRecord

SMALL = 40


def _records(path: Path) -> list[CallRecord]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [CallRecord.model_validate_json(line) for line in fh]


@pytest.fixture(scope="module")
def small_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample") / "a"
    build_sample(out, seed=7, max_per_kind=SMALL)
    return out


@pytest.fixture(scope="module")
def committed() -> tuple[list[CallRecord], list[dict[str, str]]]:
    return _records(bundled_trace_path()), read_answer_key(bundled_answer_key_path())


def test_small_build_is_byte_identical(small_build: Path, tmp_path: Path) -> None:
    again = tmp_path / "b"
    build_sample(again, seed=7, max_per_kind=SMALL)
    for name in (TRACE_FILE, ANSWER_KEY_FILE, "README.md"):
        assert (small_build / name).read_bytes() == (again / name).read_bytes(), name


def test_other_seed_differs(small_build: Path, tmp_path: Path) -> None:
    build_sample(tmp_path, seed=8, max_per_kind=SMALL)
    assert (small_build / TRACE_FILE).read_bytes() != (tmp_path / TRACE_FILE).read_bytes()


def test_small_build_records_validate_and_match_key(small_build: Path) -> None:
    records = _records(small_build / TRACE_FILE)
    key = read_answer_key(small_build / ANSWER_KEY_FILE)
    assert [r.id for r in records] == [row["id"] for row in key]
    assert len({r.id for r in records}) == len(records)
    assert [r.timestamp for r in records] == sorted(r.timestamp for r in records)
    assert set(load_answer_key(small_build / ANSWER_KEY_FILE).values()) == set(ALL_KINDS)
    for record, row in zip(records, key):
        if row["flags"] == "failed":
            assert record.status == "error" and record.finish_reason == "error" and record.response.content == ""
        else:
            assert record.status == "ok" and record.answer_text()


def test_tool_calling_records(small_build: Path) -> None:
    key = {row["id"]: row for row in read_answer_key(small_build / ANSWER_KEY_FILE)}
    calls = refusals = 0
    for record in _records(small_build / TRACE_FILE):
        row = key[record.id]
        if row["task_kind"] != "tool_calling" or row["flags"] == "failed":
            continue
        assert record.tools, record.id
        if record.response.tool_calls:
            calls += 1
            assert record.finish_reason == "tool_calls" and record.response.content is None
            for call in record.response.tool_calls:
                assert call.function.name in record.tool_names()
                assert isinstance(json.loads(call.function.arguments), dict)
        else:
            refusals += 1
            assert record.finish_reason == "stop"
            assert (record.response.content or "").startswith("None of the available tools can do that")
    assert calls > 0 and refusals > 0


def test_slot_requests_can_carry_the_agents_question(committed: tuple[list[CallRecord], list[dict[str, str]]]) -> None:
    records, key = committed
    kinds = {row["id"]: row["task_kind"] for row in key}
    roles = Counter(tuple(m.role for m in r.messages) for r in records if kinds[r.id] == "slot_extraction")
    assert roles[("system", "assistant", "user")] > 500 and roles[("system", "user")] > 2000


def test_bfcl_conversion() -> None:
    spec = {"type": "dict", "properties": {"x": {"type": "float"}, "p": {"type": "tuple", "items": {"type": "any"}}}}
    expected = {"type": "object", "properties": {"x": {"type": "number"}, "p": {"type": "array", "items": {}}}}
    assert convert_schema(spec) == expected
    ground = {"a": [3, 4], "unit": ["", "m"], "opts": [{"lo": [1], "hi": ["", 2]}], "rows": [[{"f": ["x", "y"]}]]}
    assert resolve(ground) == {"a": 3, "opts": {"lo": 1}, "rows": [{"f": "x"}]}
    assert tool_name("math.hypot") == "math_hypot"


def test_committed_trace_size_and_mix(committed: tuple[list[CallRecord], list[dict[str, str]]]) -> None:
    records, key = committed
    assert len(records) == 30_015
    assert [r.id for r in records] == [row["id"] for row in key]
    kinds = Counter(row["task_kind"] for row in key)
    assert set(kinds) == set(ALL_KINDS) and min(kinds.values()) >= 1000
    assert [kinds[k] for k in KINDS] == [7_805, 6_959, 4_716, 1_533]  # the single-call agents, as before SGD
    assert sum(kinds[k] for k in SGD_KINDS) == 9_002
    flags = Counter(row["flags"] for row in key)
    assert 0.005 <= flags["failed"] / len(key) <= 0.02
    assert 0.01 <= flags["duplicate"] / len(key) <= 0.02


def test_committed_pii_share(committed: tuple[list[CallRecord], list[dict[str, str]]]) -> None:
    _, key = committed
    with_pii = [row for row in key if row["pii_types"]]
    assert 0.05 <= len(with_pii) / len(key) <= 0.10
    types = Counter(t for row in with_pii for t in row["pii_types"].split(";"))
    for kind in ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD"):
        assert types[kind] >= 150, kind


def test_committed_trace_never_names_the_task(committed: tuple[list[CallRecord], list[dict[str, str]]]) -> None:
    records, key = committed
    kinds = {row["task_kind"] for row in key}
    for record in records:
        metadata = record.model_dump(mode="json", exclude={"messages", "tools", "response"})
        text = json.dumps(metadata)
        assert not any(kind in text for kind in kinds), record.id
        whole = record.model_dump_json()
        assert not any(kind in whole for kind in kinds), record.id


def test_bundled_paths() -> None:
    assert bundled_trace_path().is_file() and bundled_trace_path().name == "trace.jsonl.gz"
    assert bundled_answer_key_path().is_file()
    key = load_answer_key()
    assert len(key) == 30_015 and set(key.values()) == set(ALL_KINDS)


def test_build_reads_only_bundled_sources() -> None:
    package = Path(__file__).resolve().parents[2] / "llm2slm" / "sample"
    for module in package.glob("*.py"):
        assert "shared/datasets" not in module.read_text(encoding="utf-8"), module.name
