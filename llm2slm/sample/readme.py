"""The README that describes a built sample trace, written next to it from the build's own counts."""

from __future__ import annotations

from llm2slm.sample.common import AGENTS, ALL_KINDS, SGD_KINDS
from llm2slm.sample.readme_sgd import sgd_section
from llm2slm.sample.sgd import SERVICES
from llm2slm.sample.summary import Summary

SGD_SOURCE = "Schema-Guided Dialogue (Rastogi et al., AAAI 2020), CC BY-SA 4.0"
SGD_ANSWER = "a tool call (`tool_calls`) or the reply to the user, in a growing multi-turn conversation"
SGD_LABEL = "`tool_call:<intent>` or `reply`"
MAX_LISTED_TRACE_SIZE = 4  # trace sizes listed one by one; longer traces (dialogues) are counted together

SOURCES: dict[str, str] = {
    "intent_routing": "CLINC150 (Larson et al., EMNLP 2019), CC BY 3.0",
    "banking_triage": "BANKING77 (Casanueva et al., 2020), CC BY 4.0",
    "slot_extraction": "Restaurant-8k (Coope et al., ACL 2020), CC BY 4.0",
    "tool_calling": "BFCL v4 core single-turn categories (Gorilla project), Apache-2.0",
}
ANSWERS: dict[str, str] = {
    "intent_routing": '`{"intent": "transfer"}` (JSON, one key)',
    "banking_triage": "`card_arrival` (bare category name)",
    "slot_extraction": '`{"date": "August 23rd", "people": "9 people"}` (JSON, sorted keys; `{}` if none)',
    "tool_calling": "`tool_calls` (finish_reason `tool_calls`), or a one-sentence refusal when no tool fits",
}
LABELS: dict[str, str] = {
    "intent_routing": "the intent (`oos` = out of scope)",
    "banking_triage": "the category",
    "slot_extraction": "the answer JSON",
    "tool_calling": "the called function names joined by `;`, or `no_tool_call`",
}


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.2f}%" if whole else "0%"


def _kind_table(summary: Summary) -> list[str]:
    lines = [
        "| task kind (answer key only) | agent (`source.agent`) | records | failed | duplicate | repeat | with PII |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for kind in ALL_KINDS:
        k = summary.kinds[kind]
        counts = " | ".join(f"{n:,}" for n in (k.records, k.failed, k.duplicate, k.repeat, k.with_pii))
        lines.append(f"| `{kind}` | `{AGENTS[kind]}` | {counts} |")
    lines.append(
        f"| **all** | | **{summary.records:,}** | {summary.failed:,} | {summary.duplicate:,} | "
        f"{sum(k.repeat for k in summary.kinds.values()):,} | {summary.with_pii:,} |"
    )
    return lines


def _answers_table() -> list[str]:
    lines = ["| task kind | source data | the LLM's answer | answer-key `label` |", "|---|---|---|---|"]
    lines += [f"| `{k}` | {SOURCES[k]} | {ANSWERS[k]} | {LABELS[k]} |" for k in SOURCES]
    lines += [f"| `{k}` | {SGD_SOURCE}, service {SERVICES[k].name} | {SGD_ANSWER} | {SGD_LABEL} |" for k in SGD_KINDS]
    return lines


def _trace_sizes(summary: Summary) -> str:
    """"1 call: n, 2 calls: n, ..., 5 or more calls: n"."""
    sizes = summary.trace_sizes
    listed = [f"{size} call{'s' if size > 1 else ''}: {sizes[size]:,}" for size in sorted(sizes)
              if size <= MAX_LISTED_TRACE_SIZE]
    longer = [size for size in sizes if size > MAX_LISTED_TRACE_SIZE]
    if longer:
        listed.append(f"{MAX_LISTED_TRACE_SIZE + 1}-{max(longer)} calls: {sum(sizes[s] for s in longer):,}")
    return ", ".join(listed)


def _traffic(summary: Summary) -> list[str]:
    models = ", ".join(f"`{m}` {n:,}" for m, n in sorted(summary.models.items()))
    sizes = _trace_sizes(summary)
    special = summary.special_labels()
    return [
        f"- Time window: {summary.first} to {summary.last} (14 days from 2026-10-01T00:00:00Z, busier in the "
        "daytime and on weekdays); records are sorted by timestamp and numbered `call-000001`, ... in that order.",
        f"- Models: {models}.",
        f"- Traces: {summary.traces:,} ({sizes}); `parent_span_id` is the previous call's span in the same trace.",
        f"- Pseudonymous users (`u-` + 12 hex): {summary.users:,}; sessions (`s-` + 16 hex): {summary.sessions:,} "
        "(a session is 1-5 consecutive traces of one user, seconds to minutes apart, on one model; for the "
        "multi-turn agents, one dialogue).",
        f"- Requests with an earlier assistant turn (the booking agent asking for a detail, the multi-turn "
        f"agents' conversations): {summary.multi_message:,}.",
        f"- Notable answers: {special['oos']:,} out-of-scope routings (`oos`), {special['empty_slots']:,} booking "
        f"turns with nothing to extract (`{{}}`), {special['no_tool']:,} tool requests where no tool fits.",
        "- Usage: tokens estimated as ceil(characters / 4) of the request (messages plus the tools JSON) and of the "
        "answer; latency lognormal around 350 ms + 12 ms per completion token (the mini model about 25% faster).",
    ]


def _pii(summary: Summary) -> list[str]:
    types = ", ".join(f"{t} {n:,}" for t, n in summary.pii_types.items())
    return [
        f"{summary.with_pii:,} of {summary.records:,} records ({_pct(summary.with_pii, summary.records)}) carry "
        "personal data in the user message, planted with a dozen natural templates (\"Hi, I'm {PERSON}.\", \"You "
        "can reach me at {PHONE_NUMBER}.\", \"My card number is {CREDIT_CARD}.\", ...) put before or after the "
        "original text (for the multi-turn agents, in one user turn of the dialogue, kept in every later call). The "
        "answer is unchanged. The booking agent's messages never gain names (names are fields it extracts).",
        "",
        f"Records containing each type: {types}. Values are drawn from the Presidio synthetic PII set (fake, "
        "Faker-style values; no real person's data): person names with at least two words, Luhn-valid card numbers "
        "of 13-19 digits, phone numbers with at least 7 digits, street addresses joined onto one line. The planted "
        "types of each call are in the answer key's `pii_types` column.",
    ]


def _flags(summary: Summary) -> list[str]:
    repeats = sum(k.repeat for k in summary.kinds.values())
    return [
        f"- `failed` ({summary.failed}): `status` `error`, `error` `upstream timeout` (about 30 s, prompt tokens "
        "counted) or `rate limited` (no tokens), `finish_reason` `error`, empty answer. Each is followed in the "
        "same trace by the agent's successful retry of the same request.",
        f"- `duplicate` ({summary.duplicate}): an exact re-send of an earlier successful call (same messages, tools "
        "and answer, tool-call ids included), seconds to hours later, with a new id, timestamp and trace.",
        f"- `repeat` ({repeats}): BFCL has only 1,240 questions, so some are asked a second time, in another trace "
        "(only the later copy is flagged). Unless planted PII differs, the request is identical and the answer "
        "differs only in its tool-call ids (a refusal may be worded differently), so exact de-duplication on "
        "request + answer removes most of them.",
        "- Apart from these, requests are unique: each source dataset was de-duplicated on its input text before "
        "sampling.",
    ]


def _shared_prompt() -> list[str]:
    """The section on the shared-prompt variant (`llm2slm/sample/shared_prompt.py`), written beside the trace."""
    return [
        "## Shared-prompt variant (`trace_shared_prompt.jsonl.gz`)",
        "",
        "The same calls in the form many agent frameworks log: one generic system prompt on every call and the "
        "sub-task's instruction in the user turn. Written by `python scripts/shared_prompt_trace.py --seed 0` "
        "(`llm2slm/sample/shared_prompt.py`) from `trace.jsonl.gz`; the same seed gives a byte-identical file. Use "
        "it with the same `answer_key.csv.gz`.",
        "",
        "- Changed (the single-call agents' calls; the multi-turn agents' calls are kept as they are, see above): "
        "every system prompt is now `You are a helpful assistant. Follow the instruction in the user's "
        "message and answer exactly in the format it asks for.`; the last user message becomes `<instruction>` + "
        "blank line + the original text, or the original text + blank line + `<instruction>` (one wording of each "
        "kind).",
        "- The instruction: one of 4 wordings per task kind (16 in all; 3 put it before the text, 1 after), each "
        "carrying what the kind's system prompt carried: the intent list and `oos`, the category list, the five "
        "booking fields and the copy-verbatim / `{}` rules, the tool-use and refusal rule. The wording is chosen by "
        "a hash of the seed and the original request, so a duplicate, a retried failure or an unchanged repeat is "
        "still an exact re-send.",
        "- Unchanged: ids, timestamps, models, answers (`response`, `finish_reason`), `tools`, `usage` (still the "
        "original request's estimate), latency, source, trace and span ids, status, the other turns (the booking "
        "agent's earlier question), and the answer key.",
    ]


def render(summary: Summary) -> str:
    lines = [
        "# Bundled sample trace",
        "",
        "A realistic log of an AI agent platform's LLM traffic: ten agents, each sending the system prompt and "
        "tools it would send, and the answer the LLM gave (the source dataset's gold answer, formatted as the LLM "
        "would write it): four single-call agents and six multi-turn, tool-using task agents. The demo and the "
        "end-to-end tests use it.",
        "",
        f"Built by `python scripts/build_sample.py --seed {summary.seed}` from the trimmed copies in "
        "`data/sources/` (see `data/sources/NOTICE.md`); the same seed gives byte-identical files.",
        "",
        "## Files",
        "",
        f"- `trace.jsonl.gz` ({summary.trace_bytes:,} bytes): {summary.records:,} `CallRecord`s "
        "(`llm2slm/common/schema.py`), one JSON object per line.",
        f"- `answer_key.csv.gz` ({summary.key_bytes:,} bytes): `id,task_kind,label,pii_types,flags` for every "
        "record. For evaluation only: nothing in the trace names the task kind, the dataset or the gold label "
        "except the LLM's answer itself.",
        "",
        "## Calls by task kind",
        "",
        *_kind_table(summary),
        "",
        *_answers_table(),
        "",
        "## Traffic",
        "",
        *_traffic(summary),
        "",
        "## Personal data",
        "",
        *_pii(summary),
        "",
        "## Failed, duplicate and repeated calls (answer-key `flags`)",
        "",
        *_flags(summary),
        "",
        *sgd_section(summary),
        "",
        *_shared_prompt(),
        "",
        "## Sources and licences",
        "",
        "CLINC150 (CC BY 3.0), BANKING77 and Restaurant-8k (CC BY 4.0, PolyAI), BFCL (Apache-2.0, Gorilla project), "
        "Schema-Guided Dialogue (CC BY-SA 4.0, Google Research) and the Presidio synthetic PII set (MIT, "
        "Microsoft). The utterances, queries, questions, dialogues, tool specifications, tool results and gold "
        "answers in this trace come from these datasets; the system prompts, message templates, timing and "
        "metadata are generated. The multi-turn agents' records (the SGD part of the trace) are adapted from SGD "
        "and shared under CC BY-SA 4.0. Full attribution, upstream commits and licence texts: "
        "`data/sources/NOTICE.md` and `data/sources/*/UPSTREAM_LICENSE.txt`.",
        "",
    ]
    return "\n".join(lines)
