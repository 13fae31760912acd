"""S2 in memory: filter, scrub and de-duplicate a snapshot's calls, in order, and count what happened.

`curate_records` is the whole stage on a list of records; `tasks/curate.py` reads the calls the export manifest
names from the encrypted store, calls it and writes the curated snapshot, its audit and the admin-only examples.
Deterministic: the same records and settings give the same calls out and the same audit.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from llm2slm.common.config import CurateConfig
from llm2slm.common.schema import CallRecord
from llm2slm.curation.audit import CurateAudit, build_audit, field_examples, text_fields
from llm2slm.curation.dedup import NearDuplicates, content_key, mined_templates
from llm2slm.curation.filters import FailureFilter

NAME_TYPES = {"PERSON", "LOCATION", "ORGANIZATION", "STREET_ADDRESS"}  # the types the name tagger finds


class CurationError(ValueError):
    """Curation cannot produce a usable snapshot (nothing in, or nothing left)."""


@dataclass
class Scrubbed:
    """What the scrubber did over a snapshot: replaced values by (type, field), values by (action, type), calls with
    a replacement, and the admin-only examples."""

    counts: Counter = field(default_factory=Counter)
    actions: Counter = field(default_factory=Counter)
    with_pii: int = 0
    examples: list[dict] = field(default_factory=list)


@dataclass
class Curated:
    records: list[CallRecord]
    audit: CurateAudit
    examples: list[dict] = field(default_factory=list)  # before/after pairs for the admin-only file


def _filter_and_scrub(records: list[CallRecord], cfg: CurateConfig,
                      removed: Counter) -> tuple[list[CallRecord], Scrubbed]:
    """(calls kept, what scrubbing did): unusable calls and exact duplicates are counted in `removed`, the rest
    scrubbed, in input order."""
    from llm2slm.curation.scrub import Scrubber

    failures = FailureFilter(cfg.drop, cfg.refusal_patterns)
    scrubber = Scrubber(cfg) if cfg.policy else None
    done = Scrubbed()
    kept: list[CallRecord] = []
    seen: set[str] = set()
    for record in tqdm(records, desc="curate", unit="call", mininterval=5, disable=len(records) < 2000):
        reason = failures.reason(record)
        if reason:
            removed[reason] += 1
            continue
        clean = record
        if scrubber is not None:
            call = scrubber.call()
            clean = call.record(record)
            done.actions.update(call.actions)
            if call.counts:
                done.with_pii += 1
                done.counts.update(call.counts)
                if len(done.examples) < cfg.audit_examples:
                    done.examples.append(field_examples(record.id, text_fields(record), text_fields(clean)))
        if cfg.dedup != "none":
            key = content_key(clean)
            if key in seen:
                removed["duplicate"] += 1
                continue
            seen.add(key)
        kept.append(clean)
    return kept, done


def curate_records(records: list[CallRecord], cfg: CurateConfig) -> Curated:
    """Filter, scrub and de-duplicate `records` in order; keeps up to `cfg.audit_examples` before/after examples.
    Two passes: failures out, personal data scrubbed and exact duplicates dropped; then near-duplicates, compared
    on what the template lines of user and tool turns leave (`dedup.mined_templates`, over the scrubbed calls)."""
    if not records:
        raise CurationError("the snapshot is empty: nothing to curate")
    removed: Counter = Counter()
    scrubbed, done = _filter_and_scrub(records, cfg, removed)
    kept = scrubbed
    if cfg.dedup == "near":
        near = NearDuplicates(cfg.near_dup_threshold, cfg.shingle_chars, cfg.minhash_permutations, cfg.seed,
                              templates=mined_templates(scrubbed))
        kept = [record for record in scrubbed if not near.is_duplicate(record)]
        if len(kept) < len(scrubbed):
            removed["near_duplicate"] = len(scrubbed) - len(kept)
    audit = build_audit(len(records), len(kept), removed, done.counts, done.with_pii, done.actions)
    if NAME_TYPES & set(cfg.policy):
        from llm2slm.curation.ner import model_fingerprint

        audit.ner_model = model_fingerprint(Path(cfg.ner_model) if cfg.ner_model else None)
    if not kept:
        raise CurationError(f"curation removed every call ({dict(audit.removed)}): nothing left to learn from")
    return Curated(records=kept, audit=audit, examples=done.examples)
