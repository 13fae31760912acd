"""Selection rules (step S4) with no heavy imports: a task's output shape, the constraints a candidate must meet,
and how screened candidates are ranked. tasks/select.py applies them; llm2slm/selection/screening.py scores candidates.

Shapes: discovery's four (llm2slm.discovery.profile) plus `json_spans`, a JSON task whose string values are
nearly all copied verbatim from the request's last user message (an encoder span tagger can answer it).
Kinds per shape, in order of preference: closed_label -> classifier; json_spans -> span_tagger, then generator;
json, tool_call, free_text -> generator.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from llm2slm.common.schema import estimate_tokens
from llm2slm.common.stats import percentile_ceil
from llm2slm.discovery.profile import is_closed_label_set, is_json_object
from llm2slm.training.catalogue import Candidate
from llm2slm.training.prompts import classifier_input_text, message_text

KINDS_FOR_SHAPE: dict[str, tuple[str, ...]] = {
    "closed_label": ("classifier",),
    "json_spans": ("span_tagger", "generator"),
    "json": ("generator",),
    "tool_call": ("generator",),
    "free_text": ("generator",),
}


def last_user_message(messages: Sequence[Any]) -> str:
    for message in reversed(list(messages)):
        message = message if isinstance(message, Mapping) else dict(message)
        if message.get("role") == "user":
            return message_text(message)
    return ""


def span_share(rows: Sequence[Mapping[str, Any]]) -> float:
    """Share of the string values of JSON-object answers found verbatim in the request's last user message."""
    found = total = 0
    for row in rows:
        answer = str(row.get("answer", ""))
        if not is_json_object(answer):
            continue
        source = last_user_message(row.get("messages") or [])
        for value in json.loads(answer).values():
            if isinstance(value, str) and value.strip():
                total += 1
                found += value.strip() in source
    return found / total if total else 0.0


def task_shape(discovered: str, answers: list[str], rows: Sequence[Mapping[str, Any]], closed_label_max: int,
               closed_label_coverage: float, min_span_share: float) -> tuple[str, list[str]]:
    """(shape, reasons). Tool calls as discovered; the closed-label rule is discovery's own function, applied to
    the training split; JSON becomes json_spans when its values are copied from the request."""
    distinct = len(set(answers))
    if discovered == "tool_call":
        return "tool_call", [f"discovery: most answers call tools ({distinct} distinct answers)"]
    if is_closed_label_set(answers, closed_label_max, closed_label_coverage):
        return "closed_label", [f"{distinct} distinct answers over {len(answers)} training calls: a closed label set"]
    if discovered == "json" or sum(is_json_object(a) for a in answers) * 2 > len(answers):
        share = span_share(rows)
        if share >= min_span_share:
            return "json_spans", [f"JSON answers; {share:.1%} of their string values are copied from the request "
                                  f">= select.span_share={min_span_share:.0%}: spans"]
        return "json", [f"JSON answers; {share:.1%} of their string values are copied from the request "
                        f"< select.span_share={min_span_share:.0%}: generated"]
    return "free_text", [f"{distinct} distinct answers, not JSON: free text"]


def input_tokens_p99(rows: Sequence[Mapping[str, Any]], tokens: Mapping[str, Mapping[str, int]] | None,
                     kind: str) -> int:
    """Tokens a candidate of `kind` must read (p99): an encoder reads the last user turn (and the assistant turn
    before it); a generator reads the whole request and writes the answer (discovery's percentiles when given)."""
    if kind in ("classifier", "span_tagger"):
        inputs = [classifier_input_text(r.get("messages") or []) for r in rows]
        return percentile_ceil([estimate_tokens(len(text)) for text in inputs], 99)
    if tokens and "request" in tokens and "answer" in tokens:
        return int(tokens["request"].get("p99", 0)) + int(tokens["answer"].get("p99", 0))
    lengths = []
    for row in rows:
        chars = sum(len(message_text(m if isinstance(m, Mapping) else dict(m))) for m in row.get("messages") or [])
        chars += len(json.dumps(row.get("tools"))) if row.get("tools") else 0
        lengths.append(estimate_tokens(chars) + estimate_tokens(len(str(row.get("answer", "")))))
    return percentile_ceil(lengths, 99)


def constraint_failures(candidate: Candidate, shape: str, needed_tokens: int, licences: Sequence[str],
                        memory_budget_mib: float, precision: str, offline: bool) -> list[str]:
    """Why a candidate cannot serve this task here; empty when it can."""
    problems = []
    base_shape = "json" if shape == "json_spans" else shape
    if base_shape not in candidate.output_shapes:
        problems.append(f"does not produce {base_shape} (offers {candidate.output_shapes})")
    if candidate.licence not in licences:
        problems.append(f"licence {candidate.licence} not in select.licences {list(licences)}")
    memory = candidate.memory_mib(precision)
    if memory > memory_budget_mib:
        problems.append(f"{memory:,.0f} MiB of {precision} weights > select.memory_budget_mib={memory_budget_mib:,.0f}")
    if candidate.context_length < needed_tokens:
        problems.append(f"context {candidate.context_length} tokens < the task's p99 of {needed_tokens}")
    if offline and not candidate.offline:
        problems.append("needs a download and the hub is offline (HF_HUB_OFFLINE=1)")
    return problems


def rank_key(order: int, score: float | None) -> tuple[int, float, int]:
    """Sort key: screened candidates with a score above 0 first (best first), then unscreened ones, then those
    that screened at 0; catalogue order breaks ties. A measured 0 ranks below an unknown."""
    if score is not None and score > 0:
        return (0, -score, order)
    return (1, 0.0, order) if score is None else (2, 0.0, order)
