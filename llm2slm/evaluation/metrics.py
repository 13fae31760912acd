"""Quality of a specialist's answers against the LLM's, by output shape. Every figure is in [0, 1]; the `n_*`
figures are counts of calls.

- closed_label: accuracy and macro-F1 over the labels (the LLM's answer is the reference label).
- json / json_spans: json_valid (share of answers that parse as a JSON object) and field_f1 (micro F1 over
  (key, value) pairs, values compared as parsed JSON).
- tool_call (BFCL-style, order-free): decision_accuracy (tool call or text reply, as the LLM chose),
  function_name_accuracy, argument_exact_match, argument_accuracy, tool_call_valid, text_rouge_l,
  text_similarity and their counts (`llm2slm.evaluation.tool_metrics` defines each).
- free_text: rouge_l (ROUGE-L F-measure) and text_similarity (sentence-embedding cosine), means over calls
  (`llm2slm.evaluation.text_metrics`).
`agreement` (llm2slm.evaluation.agreement) is reported for every shape on top of these.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from llm2slm.evaluation.agreement import agreement
from llm2slm.evaluation.text_metrics import mean, rouge_l_scores, similarity_scores
from llm2slm.evaluation.tool_metrics import TOOL_FIGURES, tool_call_metrics


def _parse(text: str) -> Any:
    try:
        return json.loads((text or "").strip())
    except json.JSONDecodeError:
        return None


def label_metrics(predicted: list[str], reference: list[str]) -> dict[str, float]:
    """Accuracy (exact match of the label strings), and macro-F1: the unweighted mean of per-label F1 over every
    label either side uses (a label only one side uses scores 0)."""
    from sklearn.metrics import accuracy_score, f1_score

    if not reference:
        return {"accuracy": 0.0, "macro_f1": 0.0}
    return {"accuracy": float(accuracy_score(reference, predicted)),
            "macro_f1": float(f1_score(reference, predicted, average="macro", zero_division=0))}


def _pairs(value: Any) -> Counter:
    if not isinstance(value, dict):
        return Counter()
    return Counter((key, json.dumps(item, sort_keys=True)) for key, item in value.items())


def json_metrics(predicted: list[str], reference: list[str]) -> dict[str, float]:
    parsed = [_parse(p) for p in predicted]
    valid = sum(isinstance(p, dict) for p in parsed)
    true_pos = n_pred = n_ref = 0
    for value, ref in zip(parsed, reference, strict=True):
        got, want = _pairs(value), _pairs(_parse(ref))
        true_pos += sum((got & want).values())
        n_pred += sum(got.values())
        n_ref += sum(want.values())
    precision = true_pos / n_pred if n_pred else 0.0
    recall = true_pos / n_ref if n_ref else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"json_valid": valid / max(1, len(predicted)), "field_precision": precision, "field_recall": recall,
            "field_f1": f1}


def text_metrics(predicted: list[str], reference: list[str]) -> dict[str, float]:
    """rouge_l and text_similarity, means over the calls (0.0 for none)."""
    return {"rouge_l": mean(rouge_l_scores(predicted, reference)),
            "text_similarity": mean(similarity_scores(predicted, reference))}


SHAPE_METRICS = {
    "closed_label": label_metrics,
    "json": json_metrics,
    "json_spans": json_metrics,
    "tool_call": tool_call_metrics,
    "free_text": text_metrics,
}


# the [0, 1] figures each shape's own metrics give (on top of `agreement`)
SHAPE_FIGURE_NAMES: dict[str, tuple[str, ...]] = {
    "closed_label": ("accuracy", "macro_f1"),
    "json": ("json_valid", "field_precision", "field_recall", "field_f1"),
    "json_spans": ("json_valid", "field_precision", "field_recall", "field_f1"),
    "tool_call": TOOL_FIGURES,
    "free_text": ("rouge_l", "text_similarity"),
}
# the [0, 1] figures of every shape: agreement here, the rest added by llm2slm.evaluation.evaluate (deferral)
COMMON_FIGURES = ("agreement", "agreement_non_majority", "route_agreement", "route_coverage",
                  "route_agreement_non_majority")


def gate_figures(shape: str) -> tuple[str, ...]:
    """The [0, 1] figures an evaluation of a `shape` task reports, as a promotion rule may name them: the common
    ones, the shape's own, and each of them as measured on the captured calls (`raw_<name>`)."""
    if shape not in SHAPE_FIGURE_NAMES:
        raise ValueError(f"unknown output shape {shape!r}; known: {sorted(SHAPE_FIGURE_NAMES)}")
    names = (*COMMON_FIGURES, *SHAPE_FIGURE_NAMES[shape])
    return (*names, *(f"raw_{name}" for name in names))


def shape_metrics(shape: str, predicted: list[str], reference: list[str],
                  tools: Sequence[Sequence[Mapping[str, Any]] | None] | None = None) -> dict[str, float]:
    """`agreement` plus the shape's own figures; `tools`: each row's offered tools, read by the tool_call shape
    (its tool_call_valid figure) and ignored by the others."""
    if shape not in SHAPE_METRICS:
        raise ValueError(f"unknown output shape {shape!r}; known: {sorted(SHAPE_METRICS)}")
    if len(predicted) != len(reference):
        raise ValueError(f"{len(predicted)} predictions for {len(reference)} references")
    own = tool_call_metrics(predicted, reference, tools) if shape == "tool_call" else \
        SHAPE_METRICS[shape](predicted, reference)
    return {"agreement": agreement(predicted, reference), **own}
