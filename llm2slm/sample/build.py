"""Build the bundled sample trace: sample the source datasets, plant PII, schedule the calls, write the files.

Deterministic: the same seed (and the same `data/sources/`) gives byte-identical output. Every random choice comes
from a `random.Random` seeded with a string derived from the seed, one stream per stage.
"""

from __future__ import annotations

import random
from pathlib import Path

from llm2slm.sample.banking import build_banking
from llm2slm.sample.common import KINDS, SGD_KINDS, Example, KindCounts, csv_text, default_sources_dir, write_gz
from llm2slm.sample.pii import load_values, plant_pii
from llm2slm.sample.readme import render
from llm2slm.sample.records import ANSWER_KEY_HEADER, call_id, key_row, record_line, to_record
from llm2slm.sample.routing import build_routing
from llm2slm.sample.sgd import build_agent, bundled_dialogues, plant_dialogues
from llm2slm.sample.sgd_dialogues import Dialogue
from llm2slm.sample.sgd_results import coverage
from llm2slm.sample.sgd_traffic import schedule_dialogues
from llm2slm.sample.slots import build_slots
from llm2slm.sample.summary import Summary, summarise
from llm2slm.sample.tools import build_tools
from llm2slm.sample.traffic import Call, by_time, hour_slots, schedule
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


def build_dialogues(sources: Path, seed: int, per_agent: int | None) -> dict[str, list[Dialogue]]:
    """Each multi-turn agent's dialogues (all bundled ones, or the first reaching `per_agent` calls), with PII
    planted per dialogue so that about PII_RATE of the agent's calls hold it."""
    values = load_values(sources)
    dialogues: dict[str, list[Dialogue]] = {}
    for kind in SGD_KINDS:
        built = build_agent(sources, kind, stream(seed, f"sgd:{kind}"), per_agent)
        dialogues[kind] = plant_dialogues(built, PII_RATE, values, stream(seed, f"pii:{kind}"))
    return dialogues


def schedule_all(sources: Path, seed: int, counts: KindCounts) -> list[Call]:
    """The single-call agents' calls (scheduled as before, from their own streams) and the multi-turn agents'
    dialogues (one stream per agent), merged in time order."""
    calls = schedule(build_examples(sources, seed, counts), stream(seed, "traffic"), FAILED_RATE, DUPLICATE_RATE)
    for kind, dialogues in build_dialogues(sources, seed, counts.sgd_per_agent).items():
        calls += schedule_dialogues(dialogues, stream(seed, f"traffic:{kind}"), hour_slots(), FAILED_RATE)
    return by_time(calls)


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
    calls = schedule_all(sources, seed, KindCounts().capped(max_per_kind))
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
    summary.offer_coverage = coverage(bundled_dialogues(sources))
    summary.trace_bytes = (out_dir / TRACE_FILE).stat().st_size
    summary.key_bytes = (out_dir / ANSWER_KEY_FILE).stat().st_size
    (out_dir / README_FILE).write_text(render(summary), encoding="utf-8")
    return summary
