"""Quality of a specialist's answers against the LLM's, by output shape. Every figure is in [0, 1].

- closed_label: accuracy and macro-F1 over the labels (the LLM's answer is the reference label).
- json / json_spans: json_valid (share of answers that parse as a JSON object) and field_f1 (micro F1 over
  (key, value) pairs, values compared as parsed JSON).
- tool_call (BFCL-style, order-free): function_name_accuracy (the same multiset of function names) and
  argument_exact_match (the same calls, names and parsed arguments alike).
- free_text: rouge_l (ROUGE-L F-measure, mean over calls).
`agreement` (llm2slm.evaluation.agreement) is reported for every shape on top of these.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from llm2slm.evaluation.agreement import agreement


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


def _calls(text: str) -> list[tuple[str, str]] | None:
    value = _parse(text)
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(c, dict) and "name" in c for c in value):
        return None
    calls = []
    for call in value:
        arguments = call.get("arguments", {})
        if isinstance(arguments, str):  # arguments as a JSON string, as the OpenAI wire format sends them
            arguments = _parse(arguments) if _parse(arguments) is not None else arguments
        calls.append((str(call["name"]), json.dumps(arguments, sort_keys=True)))
    return calls


def tool_call_metrics(predicted: list[str], reference: list[str]) -> dict[str, float]:
    names = exact = 0
    for pred, ref in zip(predicted, reference, strict=True):
        got, want = _calls(pred), _calls(ref)
        if got is None or want is None:
            continue
        names += Counter(n for n, _ in got) == Counter(n for n, _ in want)
        exact += Counter(got) == Counter(want)
    total = max(1, len(reference))
    return {"function_name_accuracy": names / total, "argument_exact_match": exact / total}


def text_metrics(predicted: list[str], reference: list[str]) -> dict[str, float]:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    scores = [scorer.score(ref, pred)["rougeL"].fmeasure for pred, ref in zip(predicted, reference, strict=True)]
    return {"rouge_l": sum(scores) / len(scores) if scores else 0.0}


SHAPE_METRICS = {
    "closed_label": label_metrics,
    "json": json_metrics,
    "json_spans": json_metrics,
    "tool_call": tool_call_metrics,
    "free_text": text_metrics,
}


def shape_metrics(shape: str, predicted: list[str], reference: list[str]) -> dict[str, float]:
    """`agreement` plus the shape's own figures."""
    if shape not in SHAPE_METRICS:
        raise ValueError(f"unknown output shape {shape!r}; known: {sorted(SHAPE_METRICS)}")
    if len(predicted) != len(reference):
        raise ValueError(f"{len(predicted)} predictions for {len(reference)} references")
    return {"agreement": agreement(predicted, reference), **SHAPE_METRICS[shape](predicted, reference)}
