"""S2 in memory: filter, scrub and de-duplicate a snapshot's calls, in order, and count what happened.

`curate_records` is the whole stage on a list of records; `tasks/curate.py` reads the raw snapshot, calls it and
writes the curated snapshot, its audit and the admin-only examples. Deterministic: the same records and settings
give the same calls out and the same audit.
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

NAME_TYPES = {"PERSON", "LOCATION", "ORGANIZATION"}  # the types the name tagger finds


class CurationError(ValueError):
    """Curation cannot produce a usable snapshot (nothing in, or nothing left)."""


@dataclass
class Curated:
    records: list[CallRecord]
    audit: CurateAudit
    examples: list[dict] = field(default_factory=list)  # before/after pairs for the admin-only file


def _filter_and_scrub(records: list[CallRecord], cfg: CurateConfig,
                      removed: Counter) -> tuple[list[CallRecord], Counter, int, list[dict]]:
    """(calls kept, replaced values by type, calls with personal data, examples): unusable calls and exact
    duplicates are counted in `removed`, the rest scrubbed, in input order."""
    from llm2slm.curation.scrub import Scrubber

    failures = FailureFilter(cfg.drop, cfg.refusal_patterns)
    scrubber = Scrubber(cfg) if cfg.scrub else None
    counts: Counter = Counter()
    kept: list[CallRecord] = []
    examples: list[dict] = []
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
                if len(examples) < cfg.audit_examples:
                    examples.append(field_examples(record.id, text_fields(record), text_fields(clean)))
        if cfg.dedup != "none":
            key = content_key(clean)
            if key in seen:
                removed["duplicate"] += 1
                continue
            seen.add(key)
        kept.append(clean)
    return kept, counts, with_pii, examples


def curate_records(records: list[CallRecord], cfg: CurateConfig) -> Curated:
    """Filter, scrub and de-duplicate `records` in order; keeps up to `cfg.audit_examples` before/after examples.
    Two passes: failures out, personal data scrubbed and exact duplicates dropped; then near-duplicates, compared
    on what the template lines of user and tool turns leave (`dedup.mined_templates`, over the scrubbed calls)."""
    if not records:
        raise CurationError("the snapshot is empty: nothing to curate")
    removed: Counter = Counter()
    scrubbed, counts, with_pii, examples = _filter_and_scrub(records, cfg, removed)
    kept = scrubbed
    if cfg.dedup == "near":
        near = NearDuplicates(cfg.near_dup_threshold, cfg.shingle_chars, cfg.minhash_permutations, cfg.seed,
                              templates=mined_templates(scrubbed))
        kept = [record for record in scrubbed if not near.is_duplicate(record)]
        if len(kept) < len(scrubbed):
            removed["near_duplicate"] = len(scrubbed) - len(kept)
    audit = build_audit(len(records), len(kept), removed, counts, with_pii)
    if cfg.scrub and NAME_TYPES & set(cfg.scrub):
        from llm2slm.curation.ner import model_fingerprint

        audit.ner_model = model_fingerprint(Path(cfg.ner_model) if cfg.ner_model else None)
    if not kept:
        raise CurationError(f"curation removed every call ({dict(audit.removed)}): nothing left to learn from")
    return Curated(records=kept, audit=audit, examples=examples)
