"""The README's section on the multi-turn tool-using agents (Schema-Guided Dialogue), from the build's counts."""

from __future__ import annotations

from llm2slm.sample.common import AGENTS, SGD_KINDS
from llm2slm.sample.sgd import SERVICES
from llm2slm.sample.sgd_dialogues import ANCHOR, MAX_EARLIER_DAYS, MAX_RESULTS, REPLY_LABEL
from llm2slm.sample.summary import Summary

TOOL_LABEL = "tool_call:"


def _agent_table(summary: Summary) -> list[str]:
    lines = [
        "| task kind | agent | SGD service | dialogues | records | tool calls | replies | failed | with PII "
        "(dialogues) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for kind in SGD_KINDS:
        k = summary.kinds[kind]
        tool_calls = sum(n for label, n in k.labels.items() if label.startswith(TOOL_LABEL))
        counts = (len(k.traces), k.records, tool_calls, k.labels[REPLY_LABEL], k.failed)
        cells = " | ".join(f"{n:,}" for n in counts)
        lines.append(f"| `{kind}` | `{AGENTS[kind]}` | {SERVICES[kind].name} | {cells} | {k.with_pii:,} "
                     f"({len(k.pii_traces):,}) |")
    return lines


def _call_kinds(summary: Summary) -> list[str]:
    lines = []
    for kind in SGD_KINDS:
        labels = summary.kinds[kind].labels
        tools = ", ".join(f"`{label}` {n:,}" for label, n in sorted(labels.items()) if label.startswith(TOOL_LABEL))
        lines.append(f"- `{AGENTS[kind]}`: {tools}; `{REPLY_LABEL}` {labels[REPLY_LABEL]:,}.")
    return lines


def _coverage(summary: Summary) -> str:
    cov = summary.offer_coverage
    if cov is None or not cov.offers:
        return ""
    shares = ", ".join(f"first {k}: {cov.share(k):.1%}" for k in sorted(cov.within))
    return (f" Measured over the bundled dialogues: of the {cov.offers:,} values the replies offer after a tool "
            f"call, the share found in the tool's results within the {shares}; {cov.not_in_results:,} "
            f"({cov.not_in_results / cov.offers:.1%}) are in no result (the dialogue's own wording), so keeping "
            f"fewer than {MAX_RESULTS} would leave replies offering values their request does not hold.")


def sgd_section(summary: Summary) -> list[str]:
    """Markdown lines: the agents, their counts and call kinds, and the conventions of their requests."""
    return [
        "## Multi-turn tool-using agents (Schema-Guided Dialogue)",
        "",
        f"{summary.sgd_calls():,} records come from six task agents built on single-service dialogues of the "
        "Schema-Guided Dialogue dataset (SGD, Rastogi et al., AAAI 2020; CC BY-SA 4.0): one agent per service, "
        "one dialogue per user session and trace.",
        "",
        *_agent_table(summary),
        "",
        "Call kinds (answer-key `label`, successful calls):",
        "",
        *_call_kinds(summary),
        "",
        "- Tools: each of the service's intents is a function (name and description from SGD's schema); its "
        "required and optional slots are `string` parameters (`required` lists the required ones), categorical "
        "slots that list their values carry them as `enum`, optional slots name their default where SGD gives a "
        "real one. Every call of an agent sends the same tools.",
        "- System prompt: who the agent is, today's date and how it works (ask for missing details, confirm before "
        f"booking, answer from the results). Today is {ANCHOR:%A} {ANCHOR.isoformat()} for dialogues that say "
        "dates in words (SGD's \"tomorrow\" and \"next Friday\" resolve against it) or use that date; otherwise a "
        f"seeded day 1-{MAX_EARLIER_DAYS} days before the first date the dialogue mentions. These dates are "
        "the dialogues' own (March 2019), not the trace's timestamps.",
        "- History: each SYSTEM turn is one call whose request holds the whole conversation so far (user and "
        "assistant messages, earlier assistant `tool_calls` messages and their `tool` messages), so each request "
        "extends the previous call's request and answer. A SYSTEM turn with a tool call is two calls: the tool call "
        "(assistant `tool_calls`, finish_reason `tool_calls`, SGD's call parameters as the JSON `arguments`, a "
        "seeded `call_...` id), then, with that message and a `tool` message (`tool_call_id` = the call's id) in "
        "the request, the reply (SGD's SYSTEM utterance, finish_reason `stop`).",
        f"- Results: the `tool` message holds the service's results as a compact JSON list, at most {MAX_RESULTS} "
        f"(every result of these dialogues: no call returns more).{_coverage(summary)} Results hold businesses' "
        "phone numbers and street addresses (SGD's, synthetic); they are not planted personal data.",
        "- Timing: calls of a dialogue share a `trace_id`, each call's `parent_span_id` is the previous call's span; "
        "the tool runs 40-900 ms between a tool call and its reply, the user takes 2 s to 2 min (reading plus "
        "typing; median about 12 s) before the next turn; a dialogue lasts about 2 minutes (median).",
        "- Failures: about 1% of these calls are preceded, in the same trace, by a failed attempt of the same "
        "request (as for the other agents). They get no `duplicate` re-sends: a mid-conversation request sent again "
        "as a trace of its own would not be a trajectory.",
        "- Personal data is planted per dialogue: one template in one user turn of some dialogues, so the value "
        "sits, identical, in that turn of every later call of the dialogue, and the answer key gives `pii_types` "
        "for every call whose request holds it (about 7% of each agent's calls). The bank agent's users never gain "
        "a name (recipients' names are slot values).",
        "- In the shared-prompt variant these calls are unchanged: a tool-using agent's framework sends its own "
        "tools and instructions, and moving an instruction into one user turn would break the growing "
        "conversation.",
    ]
