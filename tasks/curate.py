"""Stage S2: curate a raw snapshot — drop unusable calls, scrub personal data and secrets, remove duplicates.

Writes the curated snapshot and an audit (JSON): how many values of each type were replaced in which field, and
how many calls each filter removed. The audit holds counts only, never the values; before/after examples go to an
admin-only file outside the DVC outputs and MLflow artifacts (docs/curation.md). Deterministic: the same snapshot
and parameters give byte-identical outputs.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

from prefect import task
from tqdm import tqdm

from llm2slm.common.config import CurateConfig
from llm2slm.curation.audit import CurateAudit, build_audit, field_examples, text_fields, write_admin_examples
from llm2slm.curation.dedup import NearDuplicates, content_key
from llm2slm.curation.filters import FailureFilter
from llm2slm.common.schema import CallRecord
from llm2slm.common.snapshot import read_snapshot, write_snapshot

log = logging.getLogger("llm2slm.curate")

__all__ = ["CurateAudit", "curate", "curate_records", "scrub_record"]


def scrub_record(record: CallRecord, scrubber) -> CallRecord:
    """A copy of the record with every text field scrubbed (`scrubber`: a CallScrubber for this call)."""
    return scrubber.record(record)


def curate_records(records: list[CallRecord], cfg: CurateConfig,
                   examples: list[dict] | None = None) -> tuple[list[CallRecord], CurateAudit]:
    """Filter, scrub and de-duplicate `records` in order; appends before/after examples to `examples` if given."""
    from llm2slm.curation.scrub import Scrubber

    failures = FailureFilter(cfg.drop, cfg.refusal_patterns)
    scrubber = Scrubber(cfg) if cfg.scrub else None
    near = NearDuplicates(cfg.near_dup_threshold, cfg.shingle_chars, cfg.minhash_permutations, cfg.seed)
    removed: Counter = Counter()
    counts: Counter = Counter()
    kept: list[CallRecord] = []
    seen: set[str] = set()
    with_pii = 0
    for record in tqdm(records, desc="curate", unit="call", mininterval=5, disable=len(records) < 2000):
        reason = failures.reason(record)
        if reason:
            removed[reason] += 1
            continue
        clean = record
        if scrubber is not None:
            call = scrubber.call()
            clean = call.record(record)
            if call.counts:
                with_pii += 1
                counts.update(call.counts)
                if examples is not None and len(examples) < cfg.audit_examples:
                    examples.append(field_examples(record.id, text_fields(record), text_fields(clean)))
        if cfg.dedup != "none":
            key = content_key(clean)
            if key in seen:
                removed["duplicate"] += 1
                continue
            seen.add(key)
        if cfg.dedup == "near" and near.is_duplicate(clean):
            removed["near_duplicate"] += 1
            continue
        kept.append(clean)
    audit = build_audit(len(records), len(kept), removed, counts, with_pii)
    if scrubber is not None and {"PERSON", "LOCATION", "ORGANIZATION"} & set(cfg.scrub):
        from llm2slm.curation.ner import model_fingerprint

        audit.ner_model = model_fingerprint(Path(cfg.ner_model) if cfg.ner_model else None)
    return kept, audit


@task(name="curate")
def curate(raw: Path, out: Path, audit_out: Path, cfg: CurateConfig, examples_out: Path | None = None) -> CurateAudit:
    """Read the raw snapshot, write the curated snapshot, its audit and (if asked) the admin-only examples."""
    records = read_snapshot(raw)
    if not records:
        raise ValueError(f"the raw snapshot {raw} is empty: nothing to curate")
    examples: list[dict] = []
    kept, audit = curate_records(records, cfg, examples)
    if not kept:
        raise ValueError(f"curation removed every call of {raw} ({audit.removed}): nothing left to learn from")
    write_snapshot(kept, out)
    audit_out.parent.mkdir(parents=True, exist_ok=True)
    audit_out.write_text(json.dumps(audit.model_dump(), indent=2, sort_keys=True) + "\n")
    if examples_out is not None:
        write_admin_examples(examples_out, examples)
    log.info("curated %d -> %d calls; removed %s; replaced %s", audit.n_in, audit.n_out, audit.removed,
             audit.replaced)
    return audit
