"""Scrubber accuracy and speed on the held-out templates of the Presidio synthetic PII set, and on held-out real text.

    .venv/bin/python benchmarks/pii.py

Scores llm2slm's scrubber and the Presidio configuration that runs offline here (Presidio's predefined pattern
recognizers, no NLP engine model) side by side on the same records: the records whose template was held out when
the tagger was trained (the split stored in the model file). Matching is token-level and type-aware (see
docs/curation.md): a token counts as found when a predicted span of the right type overlaps it. Speed is records
per second of analysis plus anonymisation, one record at a time, best of 3 passes with no result cache. A second
table scores names, places and organisations on the real-text sections held out from training (tweets of the Broad
Twitter Corpus sections G and H, WikiGold's last articles; llm2slm/curation/real_text.py), the same way. Writes the
tables into docs/benchmarks.md (section "pii").
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == REPO / "benchmarks":
    sys.path[0] = str(REPO)  # the repository root, not benchmarks/, comes first on the path
else:
    sys.path.insert(0, str(REPO))

import argparse  # noqa: E402
import re  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable  # noqa: E402

from benchmarks.table import load_note, write_section  # noqa: E402
from llm2slm.common.env import apply_quiet_offline_defaults  # noqa: E402
from llm2slm.curation.ner import DEFAULT_MODEL, read_metadata, tokenize  # noqa: E402
from llm2slm.curation import real_text  # noqa: E402
from llm2slm.curation.synth_pii import (  # noqa: E402
    OUT_OF_SCOPE, SYNTH_PATH, TYPE_MAP, Example, load_examples, split_by_template, token_labels)

# Presidio's entity types -> llm2slm's (for the baseline); other types it reports count as wrong-type finds.
PRESIDIO_TO_OURS = {"EMAIL_ADDRESS": "EMAIL", "PHONE_NUMBER": "PHONE", "CREDIT_CARD": "CREDIT_CARD",
                    "IBAN_CODE": "IBAN", "IP_ADDRESS": "IP_ADDRESS", "US_SSN": "SSN", "URL": "URL",
                    "PERSON": "PERSON", "LOCATION": "LOCATION", "ORGANIZATION": "ORGANIZATION"}
SCORED = ("PERSON", "LOCATION", "ORGANIZATION", "EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "IP_ADDRESS", "SSN", "URL")
Detector = Callable[[str], list[tuple[int, int, str]]]


def token_types(examples: list[Example], detect: Detector) -> tuple[list[str], list[str]]:
    """(gold type, predicted type) of every scored token, "O" for none: a token's predicted type is that of the
    first predicted span overlapping it."""
    gold, predicted = [], []
    for example in examples:
        tokens = tokenize(example.text)
        spans = detect(example.text)
        for token, kind in zip(tokens, token_labels(tokens, example.spans)):
            if kind in OUT_OF_SCOPE:
                continue  # not scored: neither a miss nor a false find
            gold.append(TYPE_MAP.get(kind or "", "O"))
            predicted.append(next((t for s, e, t in spans if token.start < e and token.end > s), "O"))
    return gold, predicted


def prf(gold: list[str], predicted: list[str], types: list[str] | None = None) -> tuple[float, float, float]:
    """Precision, recall and F2 over the tokens of `types` (micro-averaged; default every type either side
    uses, so a token found with the wrong type counts against both); `types=[]`: whether a token was found at all,
    whatever its type."""
    from sklearn.metrics import precision_recall_fscore_support

    if types == []:
        gold, predicted, types = [g != "O" for g in gold], [p != "O" for p in predicted], [True]
    elif types is None:
        types = sorted((set(gold) | set(predicted)) - {"O"})
    precision, recall, f2, _ = precision_recall_fscore_support(gold, predicted, beta=2.0, labels=types,
                                                               average="micro", zero_division=0)
    return float(precision), float(recall), float(f2)


def records_per_second(examples: list[Example], run: Callable[[str], object], reset: Callable[[], None]) -> float:
    texts = [e.text for e in examples]
    run(texts[0])
    best = float("inf")
    for _ in range(3):
        reset()
        started = time.perf_counter()
        for text in texts:
            run(text)
        best = min(best, time.perf_counter() - started)
    return len(texts) / best


SAME_AS = {"NAME": "PERSON", "STREET_ADDRESS": "LOCATION"}  # llm2slm's types the dataset does not tell apart


def ours():
    from llm2slm.common.config import CurateConfig
    from llm2slm.curation.scrub import Scrubber

    scrubber = Scrubber(CurateConfig(), cache=False)
    tagger = next(r for r in scrubber.analyzer.registry.recognizers if hasattr(r, "tagger")).tagger

    def detect(text: str) -> list[tuple[int, int, str]]:
        """What was found; a name is a name here whoever's it is (`NAME` counts as `PERSON`), and a street address
        a place, as the dataset types it."""
        return [(s, e, SAME_AS.get(t, t)) for s, e, t, _ in scrubber.analyze(text)]

    def run(text: str) -> object:
        return scrubber.call().text(text, "benchmark")

    return detect, run, tagger.cache.table.clear


def presidio_analyzer():
    """Presidio's offline configuration: its predefined recognizers with no NLP model."""
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NoOpNlpEngine

    nlp_engine = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
    nlp_engine.load()
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(nlp_engine=nlp_engine, languages=["en"])
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"])


def presidio_offline():
    from presidio_anonymizer import AnonymizerEngine

    analyzer = presidio_analyzer()
    anonymizer = AnonymizerEngine()

    def detect(text: str) -> list[tuple[int, int, str]]:
        results = analyzer.analyze(text=text, language="en")
        return [(r.start, r.end, PRESIDIO_TO_OURS.get(r.entity_type, "OTHER:" + r.entity_type))
                for r in sorted(results, key=lambda r: -r.score) if r.entity_type != "DATE_TIME"]

    def run(text: str) -> object:
        return anonymizer.anonymize(text=text, analyzer_results=analyzer.analyze(text=text, language="en")).text

    return detect, run, lambda: None


def private_share(named: list[tuple[str, list[tuple[int, int]]]]) -> tuple[int, int, int]:
    """(gold names, names found, found names judged a private person's) over (text, gold person spans) pairs, under
    the default policy's analysis: a gold name is found when a PERSON or NAME span overlaps it, and private when
    one of those is PERSON."""
    from llm2slm.common.config import CurateConfig
    from llm2slm.curation.scrub import Scrubber

    scrubber = Scrubber(CurateConfig(), cache=False)
    total = found = private = 0
    for text, spans in named:
        predicted = [(s, e, t) for s, e, t, _ in scrubber.analyze(text) if t in ("PERSON", "NAME")]
        for start, end in spans:
            kinds = {t for s, e, t in predicted if s < end and e > start}
            total += 1
            found += bool(kinds)
            private += "PERSON" in kinds
    return total, found, private


def private_table(held_out: list[Example], sections: list[str]) -> str:
    """Whose name is it, measured: the share of found names judged private, on sets of private names (held-out
    synthetic records: customers, patients, senders) and of mostly public ones (tweets, Wikipedia)."""
    sets = {"held-out synthetic templates (customers, senders, also characters and artists)":
            [(e.text, [(s.start, s.end) for s in e.spans if TYPE_MAP.get(s.kind) == "PERSON"]) for e in held_out]}
    for section, sentences in real_text.load_sections(sections).items():
        sets[f"{section} (real text, mostly public figures)"] = [
            (s.text, [(a, b) for a, b, kind in s.spans() if kind == "PERSON"]) for s in sentences]
    lines = ["| names in | gold names | found (PERSON or NAME) | judged private (PERSON) of those found |",
             "|---|---:|---:|---:|"]
    for name, named in sets.items():
        total, found, private = private_share(named)
        lines.append(f"| {name} | {total} | {found / total:.1%} | {private / max(found, 1):.1%} |")
    return "\n".join(lines) + "\n"


def table(rows: dict[str, tuple[list[str], list[str], float]], n_records: int) -> str:
    """rows: detector name -> (gold types, predicted types, records/s)."""
    names = list(rows)
    gold = rows[names[0]][0]

    def cells(types: list[str] | None) -> list[str]:
        return [" / ".join(f"{v:.2f}" for v in prf(r[0], r[1], types)) for r in rows.values()]

    head = "| entity type | gold tokens | " + " | ".join(f"{n} P / R / F2" for n in names) + " |\n"
    head += "|---|---:|" + "---:|" * len(names) + "\n"
    lines = [f"| {kind} | {gold.count(kind)} | " + " | ".join(cells([kind])) + " |" for kind in SCORED]
    total = sum(g != "O" for g in gold)
    lines.append(f"| **overall (type-aware, micro)** | {total} | " + " | ".join(f"**{c}**" for c in cells(None)) + " |")
    lines.append(f"| overall, any type (found at all) | {total} | " + " | ".join(cells([])) + " |")
    lines.append("| **records/s** | " + str(n_records) + " | " + " | ".join(f"**{r[2]:,.0f}**" for r in rows.values())
                 + " |")
    return head + "\n".join(lines) + "\n"


def real_text_table(detectors: dict[str, Detector], sections: list[str]) -> str:
    """Per held-out real-text section and type: gold tokens and each detector's P / R / F2 (type-aware)."""
    data = real_text.load_sections(sections)
    scored = {name: {section: real_text.token_types(data[section], detect) for section in sections}
              for name, detect in detectors.items()}
    head = "| section | entity type | gold tokens | " + " | ".join(f"{n} P / R / F2" for n in detectors) + " |\n"
    head += "|---|---|---:|" + "---:|" * len(detectors) + "\n"
    lines = []
    for section in [*sections, "overall"]:
        for kind in real_text.ENTITY_TYPES:
            if section == "overall":
                pairs = {n: ([g for s in sections for g in by[s][0]], [p for s in sections for p in by[s][1]])
                         for n, by in scored.items()}
            else:
                pairs = {n: by[section] for n, by in scored.items()}
            gold = next(iter(pairs.values()))[0]
            cells = [" / ".join(f"{v:.2f}" for v in prf(g, p, [kind])) for g, p in pairs.values()]
            label = f"**{section}**" if section == "overall" else section
            lines.append(f"| {label} | {kind} | {gold.count(kind)} | " + " | ".join(cells) + " |")
    return head + "\n".join(lines) + "\n"


PLANTED = {"PERSON": ("PERSON",), "EMAIL_ADDRESS": ("EMAIL",), "PHONE_NUMBER": ("PHONE",),
           "CREDIT_CARD": ("CREDIT_CARD",), "STREET_ADDRESS": ("STREET_ADDRESS", "LOCATION")}
PLACEHOLDER_RE = re.compile(r"<([A-Z_]+)_\d+>")


def visible_policy() -> dict[str, str]:
    """The default policy with every replacing action shown as a placeholder: the same values change, and the
    placeholder says which type each was found as."""
    from llm2slm.common.config import DEFAULT_POLICY

    return {t: "keep" if a == "keep" else "placeholder" for t, a in DEFAULT_POLICY.items()}


def visible_fields(record) -> list[str]:
    """What the false-positive rate reads: the user messages, the answer's text and its tool-call arguments."""
    return ([m.content or "" for m in record.messages if m.role == "user"] + [record.response.content or ""]
            + [c.function.arguments for c in record.response.tool_calls or []])


def labelled_names(record) -> set[str]:
    """Words of the names the source dataset labels in the call's answer (Restaurant-8k's first and last names of
    a booking, which the slot-extraction answers copy): private persons' names, not false positives."""
    import json

    try:
        answer = json.loads(record.response.content or "")
    except json.JSONDecodeError:
        return set()
    if not isinstance(answer, dict):
        return set()
    return {w for k in ("first_name", "last_name") if isinstance(answer.get(k), str) for w in answer[k].split()}


def trace_check() -> str:
    """Curate the bundled trace under the default policy (replacements as placeholders): calls/s; per planted type
    the share of calls whose user message got a placeholder of that type; and the false-positive rate: the share
    of calls with nothing planted whose user messages or answers changed, beside the share whose changes are not
    all source-labelled booking names."""
    from llm2slm.capture import parse_jsonl
    from llm2slm.common.config import CurateConfig
    from llm2slm.curation.scrub import Scrubber
    from llm2slm.sample import bundled_answer_key_path, bundled_trace_path, read_answer_key

    records = parse_jsonl(bundled_trace_path())
    planted = {row["id"]: [t for t in row["pii_types"].split(";") if t] for row in read_answer_key(
        bundled_answer_key_path())}
    scrubber = Scrubber(CurateConfig(dedup="none", drop=[], policy=visible_policy()))
    found, total, changed, unlabelled, clean, spurious = Counter(), Counter(), 0, 0, 0, Counter()
    booked = booked_gone = 0  # calls with source-labelled booking names; those whose names all left the request
    started = time.perf_counter()
    for record in records:
        call = scrubber.call()
        after = call.record(record)
        kinds = set(PLACEHOLDER_RE.findall(after.last_user_message() or ""))
        if planted[record.id]:
            for kind in planted[record.id]:
                total[kind] += 1
                found[kind] += bool(set(PLANTED[kind]) & kinds)
            continue
        clean += 1
        names = labelled_names(record)
        if names:
            booked += 1
            booked_gone += not any(re.search(rf"(?<!\w){re.escape(n)}(?!\w)", after.last_user_message() or "")
                                   for n in names)
        if visible_fields(after) == visible_fields(record):
            continue
        changed += 1
        values = {(t, v) for (t, v) in call.state.placeholders}
        if any(t != "PERSON" or v not in names for t, v in values):
            unlabelled += 1
            spurious.update(t for t, v in values if t != "PERSON" or v not in names)
    seconds = time.perf_counter() - started
    rows = "\n".join(f"| {kind} → {' or '.join(PLANTED[kind])} | {total[kind]} | {found[kind] / total[kind]:.1%} |"
                     for kind in sorted(total))
    top = ", ".join(f"{k} {n}" for k, n in spurious.most_common(5))
    return (f"Bundled trace ({len(records):,} calls, the default policy with each replacement shown as a placeholder, "
            f"every field scrubbed): {len(records) / seconds:,.0f} calls/s ({seconds:.0f} s, load average "
            f"{os.getloadavg()[0]:.1f}).\n\n| planted type | calls | user message got a placeholder of that type |\n"
            f"|---|---:|---:|\n{rows}\n\n**False positives on agent traffic**: of the {clean:,} calls with nothing "
            f"planted, {changed:,} ({changed / clean:.2%}) had a user message or an answer changed; "
            f"{changed - unlabelled:,} of them only in names the source dataset labels as a booking's first or last "
            f"name (Restaurant-8k: private persons' names, rightly replaced), so **{unlabelled:,} "
            f"({unlabelled / clean:.2%})** changed where nothing personal was labelled (values by type: {top}). "
            f"Of the {booked:,} calls whose answer holds such a name, {booked_gone:,} ({booked_gone / booked:.1%}) "
            "have every word of it gone from the user message.\n")


def presidio_false_positives() -> str:
    """The same false-positive rate for Presidio offline: the share of the bundled trace's calls with nothing
    planted whose user messages or answers hold anything it finds (what its anonymizer would change)."""
    from llm2slm.capture import parse_jsonl
    from llm2slm.sample import bundled_answer_key_path, bundled_trace_path, read_answer_key

    analyzer = presidio_analyzer()
    planted = {row["id"]: row["pii_types"] for row in read_answer_key(bundled_answer_key_path())}
    clean = [r for r in parse_jsonl(bundled_trace_path()) if not planted[r.id]]
    changed, undated, kinds = 0, 0, Counter()
    for record in clean:
        found = {r.entity_type for text in visible_fields(record) if text.strip()
                 for r in analyzer.analyze(text=text, language="en")}
        changed += bool(found)
        undated += bool(found - {"DATE_TIME"})
        kinds.update(found)
    top = ", ".join(f"{k} {n}" for k, n in kinds.most_common(5))
    return (f"Presidio offline on the same {len(clean):,} calls: **{undated / len(clean):.2%}** ({undated:,}) hold "
            f"something it finds other than a date, {changed / len(clean):.2%} ({changed:,}) with dates "
            f"(calls by type: {top}).\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    parser.add_argument("--trace", action="store_true", help="also curate the bundled trace (about a minute)")
    args = parser.parse_args()
    apply_quiet_offline_defaults()  # before Presidio is imported: tldextract must not fetch the suffix list
    meta = read_metadata(DEFAULT_MODEL)
    _, held_out = split_by_template(load_examples(REPO / SYNTH_PATH), meta["seed"], meta["eval_fraction"])
    rows, detectors = {}, {}
    for name, build in (("llm2slm", ours), ("Presidio offline", presidio_offline)):
        detect, run, reset = build()
        rows[name] = (*token_types(held_out, detect), records_per_second(held_out, run, reset))
        detectors[name] = detect
    sections = list(meta.get("real_text_held_out_sections", real_text.HELD_OUT_SECTIONS))
    load = os.getloadavg()
    body = (f"{len(held_out)} records of {len({e.template for e in held_out})} templates held out from training "
            f"(seed {meta['seed']}, {meta['eval_fraction']:.0%} of templates), Presidio synthetic PII set v2. "
            f"Machine: {os.cpu_count()} cores, {platform.machine()}, no GPU; load average during the run "
            f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} ({load_note(load[0])}). Token-level, type-aware matching; DATE_TIME, TITLE, AGE, NRP and US_DRIVER_LICENSE "
            "tokens are not scored (docs/curation.md). \"Presidio offline\" is `AnalyzerEngine` with a "
            "`NoOpNlpEngine` and Presidio's predefined recognizers: it has no NER. Published reference (Presidio, "
            "spaCy en_core_web_lg): F2 0.62 at about 147 records/s; with a transformers NER F2 0.85 at about 23 "
            "records/s.\n\n" + table(rows, len(held_out)))
    body += (f"\nHeld-out real text: the real-text sections held out from training ({', '.join(sections)}; Broad "
             "Twitter Corpus tweets and WikiGold Wikipedia articles, data/sources/ner_real_text), each sentence's "
             "tokens joined by single spaces (an \"@\" glued to the handle after it); PER, LOC and ORG tags, MISC not "
             "scored. Same matching as above; "
             "Presidio offline has no NER, so it finds none of these.\n\n" + real_text_table(detectors, sections))
    body += ("\nWhose name is it (docs/curation.md): a found name is a private person's (`PERSON`, replaced) only "
             "when its context says so, else `NAME` (kept by the default policy). Names counted per entity span.\n\n"
             + private_table(held_out, sections))
    if args.trace:
        body += "\n" + trace_check() + "\n" + presidio_false_positives()
    body += "\nRun: `.venv/bin/python benchmarks/pii.py --trace`.\n"
    print(body)
    if not args.no_write:
        write_section(REPO / "docs" / "benchmarks.md", "pii", body)


if __name__ == "__main__":
    main()
