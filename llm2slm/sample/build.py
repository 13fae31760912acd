"""Build the bundled sample trace: sample the source datasets, plant PII, schedule the calls, write the files.

Deterministic: the same seed (and the same `data/sources/`) gives byte-identical output. Every random choice comes
from a `random.Random` seeded with a string derived from the seed, one stream per stage.
"""

from __future__ import annotations

import random
from pathlib import Path

from llm2slm.sample.banking import build_banking
from llm2slm.sample.common import KINDS, Example, KindCounts, csv_text, default_sources_dir, write_gz
from llm2slm.sample.pii import load_values, plant_pii
from llm2slm.sample.readme import render
from llm2slm.sample.records import ANSWER_KEY_HEADER, call_id, key_row, record_line, to_record
from llm2slm.sample.routing import build_routing
from llm2slm.sample.slots import build_slots
from llm2slm.sample.summary import Summary, summarise
from llm2slm.sample.tools import build_tools
from llm2slm.sample.traffic import schedule
from llm2slm.common.schema import CallRecord

TRACE_FILE = "trace.jsonl.gz"
ANSWER_KEY_FILE = "answer_key.csv.gz"
README_FILE = "README.md"
PII_RATE = 0.07
FAILED_RATE = 0.01
DUPLICATE_RATE = 0.015


def stream(seed: int, stage: str) -> random.Random:
    """An independent random stream per stage, so changing one stage does not shift the others."""
    return random.Random(f"llm2slm-sample:{seed}:{stage}")


def build_examples(sources: Path, seed: int, counts: KindCounts) -> dict[str, list[Example]]:
    """The examples of each kind, with PII planted in about PII_RATE of the user messages."""
    examples = {
        "intent_routing": build_routing(sources, stream(seed, "routing"), counts.intent_in_scope, counts.intent_oos),
        "banking_triage": build_banking(sources, stream(seed, "banking"), counts.banking),
        "slot_extraction": build_slots(sources, stream(seed, "slots"), counts.slots),
        "tool_calling": build_tools(sources, stream(seed, "tools"), counts.tools),
    }
    values = load_values(sources)
    return {kind: plant_pii(examples[kind], PII_RATE, values, stream(seed, f"pii:{kind}")) for kind in KINDS}


def build_sample(
    out_dir: Path,
    seed: int = 7,
    max_per_kind: int | None = None,
    sources_dir: Path | None = None,
) -> Summary:
    """Write trace.jsonl.gz, answer_key.csv.gz and README.md into `out_dir`; return the counts.

    `max_per_kind` caps the examples drawn per task kind (tests use small values for speed).
    """
    sources = sources_dir or default_sources_dir()
    examples = build_examples(sources, seed, KindCounts().capped(max_per_kind))
    calls = schedule(examples, stream(seed, "traffic"), FAILED_RATE, DUPLICATE_RATE)
    lines: list[str] = []
    rows: list[tuple[str, str, str, str, str]] = []
    for index, call in enumerate(calls, start=1):
        line = record_line(to_record(call, call_id(index)))
        CallRecord.model_validate_json(line)  # what we write must read back
        lines.append(line)
        rows.append(key_row(call, call_id(index)).as_row())
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_gz(out_dir / TRACE_FILE, "".join(lines))
    write_gz(out_dir / ANSWER_KEY_FILE, csv_text(ANSWER_KEY_HEADER, rows))
    summary = summarise(calls, seed)
    summary.trace_bytes = (out_dir / TRACE_FILE).stat().st_size
    summary.key_bytes = (out_dir / ANSWER_KEY_FILE).stat().st_size
    (out_dir / README_FILE).write_text(render(summary), encoding="utf-8")
    return summary
