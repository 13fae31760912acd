"""Generator evaluation of a `tool_call` task, BFCL-style (order-free over the calls of one answer).

A task of shape `tool_call` mixes answers that call tools with text replies to the user; the specialist must choose
as the LLM did. The LLM's answer (the reference) is a tool call when it parses as a non-empty JSON list of objects
with a `name` (`llm2slm.training.prompts.tool_calls_text`); anything else is a text reply. The specialist's answer
is read as the router reads it (`llm2slm.serving.answers`): one starting with `[` is a tool-call answer (valid or
not), anything else a text reply.

Figures, each in [0, 1], absent when the calls they are taken over are none:
- decision_accuracy, over all calls: a tool-call answer where the LLM called tools, a text reply where it did not.
- over the calls where the LLM called tools (`n_tool_calls`); a text reply scores 0 on each:
  function_name_accuracy (the same multiset of function names), argument_exact_match (the same multiset of calls,
  names and parsed arguments), argument_accuracy (micro share over these calls of the LLM's (function, argument,
  value) triples that the specialist's calls hold too; `n_arguments` triples).
- tool_call_valid, over the specialist's tool-call answers (`n_predicted_tool_calls`), when the rows' offered tools
  are given: the share the router would serve (they parse, name an offered tool, their arguments validate against
  its JSON Schema); 1.0 when it made none.
- over the calls where the LLM replied with text (`n_text`); a tool-call answer scores 0 on each: text_rouge_l
  (ROUGE-L F) and text_similarity (sentence-embedding cosine, `llm2slm.evaluation.text_metrics`).
Counts: n_calls, n_tool_calls, n_text, n_predicted_tool_calls, n_arguments.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from llm2slm.evaluation.text_metrics import mean, rouge_l_scores, similarity_scores

TOOL_FIGURES = ("decision_accuracy", "function_name_accuracy", "argument_exact_match", "argument_accuracy",
                "tool_call_valid", "text_rouge_l", "text_similarity")
# the count of the calls each figure is taken over (a figure is absent when its count is 0)
FIGURE_COUNTS = {"decision_accuracy": "n_calls", "function_name_accuracy": "n_tool_calls",
                 "argument_exact_match": "n_tool_calls", "argument_accuracy": "n_arguments",
                 "tool_call_valid": "n_predicted_tool_calls", "text_rouge_l": "n_text", "text_similarity": "n_text"}

Calls = list[tuple[str, Any]]  # (function name, arguments as parsed JSON)


def _json(text: str) -> Any:
    try:
        return json.loads((text or "").strip())
    except (ValueError, RecursionError):
        return None


def parse_calls(text: str) -> Calls | None:
    """The (name, arguments) of a non-empty JSON list of {name, arguments}; arguments sent as a JSON string (the
    OpenAI wire format) are parsed. None when the text is not such a list."""
    value = _json(text)
    if not isinstance(value, list) or not value:
        return None
    if not all(isinstance(c, dict) and isinstance(c.get("name"), str) for c in value):
        return None
    calls = []
    for call in value:
        arguments = call.get("arguments", {})
        if isinstance(arguments, str) and _json(arguments) is not None:
            arguments = _json(arguments)
        calls.append((call["name"], arguments))
    return calls


def is_tool_call_answer(text: str) -> bool:
    """Whether the router reads a specialist's answer as tool calls (it starts with `[`), valid or not."""
    return (text or "").strip().startswith("[")


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _triples(calls: Calls) -> Counter:
    """(function, argument, value) of every top-level argument of the calls."""
    return Counter((name, key, _key(value)) for name, arguments in calls if isinstance(arguments, dict)
                   for key, value in arguments.items())


@lru_cache(maxsize=1024)
def _validator(schema_json: str) -> Any:
    """A validator for one tool's parameters, or the text of why its schema is unusable."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    schema = json.loads(schema_json)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return f"the tool's parameters are not a valid JSON Schema: {exc.message}"
    return Draft202012Validator(schema)


def call_problem(text: str, tools: Sequence[Mapping[str, Any]] | None) -> str | None:
    """Why the router would not serve a tool-call answer for a request offering `tools`, or None."""
    from referencing.exceptions import Unresolvable

    value = _json(text)
    if not isinstance(value, list) or not value:
        return "not a non-empty JSON list"
    offered = {t.get("function", {}).get("name"): t.get("function", {}).get("parameters") or {} for t in tools or []}
    for call in value:
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            return "a tool call is not an object with a string 'name'"
        if call["name"] not in offered:
            return f"tool {call['name']!r} was not offered"
        arguments = call.get("arguments", {})
        if not isinstance(arguments, dict):
            return f"the arguments of {call['name']!r} are not a JSON object"
        validator = _validator(_key(offered[call["name"]]))
        if isinstance(validator, str):
            return validator
        try:
            error = next(iter(validator.iter_errors(arguments)), None)
        except Unresolvable as exc:
            return f"the tool's schema has a reference that does not resolve: {exc}"
        if error is not None:
            return f"arguments of {call['name']!r} off its schema: {error.message}"
    return None


def _call_figures(predicted: Sequence[str], reference: Sequence[str]) -> dict[str, float]:
    """The name and argument figures over the calls whose reference calls tools, with their counts."""
    names = exact = matched = n_tool = n_arguments = 0
    for pred, ref in zip(predicted, reference, strict=True):
        want = parse_calls(ref)
        if want is None:
            continue
        n_tool += 1
        wanted_triples = _triples(want)
        n_arguments += sum(wanted_triples.values())
        got = parse_calls(pred) if is_tool_call_answer(pred) else None
        if got is None:
            continue
        names += Counter(n for n, _ in got) == Counter(n for n, _ in want)
        exact += Counter((n, _key(a)) for n, a in got) == Counter((n, _key(a)) for n, a in want)
        matched += sum((_triples(got) & wanted_triples).values())
    figures = {"n_tool_calls": float(n_tool), "n_arguments": float(n_arguments)}
    if n_tool:
        figures.update(function_name_accuracy=names / n_tool, argument_exact_match=exact / n_tool)
    if n_arguments:
        figures["argument_accuracy"] = matched / n_arguments
    return figures


def _text_figures(predicted: Sequence[str], reference: Sequence[str]) -> dict[str, float]:
    """ROUGE-L and similarity over the calls whose reference is a text reply (a tool-call answer scores 0)."""
    pairs = [(pred, ref) for pred, ref in zip(predicted, reference, strict=True) if parse_calls(ref) is None]
    figures = {"n_text": float(len(pairs))}
    if not pairs:
        return figures
    replied = [(pred, ref) for pred, ref in pairs if not is_tool_call_answer(pred)]
    rouge = rouge_l_scores([p for p, _ in replied], [r for _, r in replied])
    similarity = similarity_scores([p for p, _ in replied], [r for _, r in replied])
    figures["text_rouge_l"] = sum(rouge) / len(pairs)  # the tool-call answers add 0 each
    figures["text_similarity"] = sum(similarity) / len(pairs)
    return figures


def tool_call_metrics(predicted: Sequence[str], reference: Sequence[str],
                      tools: Sequence[Sequence[Mapping[str, Any]] | None] | None = None) -> dict[str, float]:
    """The figures of the module docstring; `tools`: each row's offered tools (OpenAI `tools` dicts, None for a
    request offering none); without them there is no tool_call_valid."""
    if len(predicted) != len(reference):
        raise ValueError(f"{len(predicted)} predictions for {len(reference)} references")
    if tools is not None and len(tools) != len(reference):
        raise ValueError(f"{len(tools)} rows of offered tools for {len(reference)} references")
    decided = [is_tool_call_answer(p) == (parse_calls(r) is not None) for p, r in zip(predicted, reference,
                                                                                      strict=True)]
    figures: dict[str, float] = {"n_calls": float(len(reference))}
    if reference:
        figures["decision_accuracy"] = mean([float(d) for d in decided])
    figures.update(_call_figures(predicted, reference))
    answered = [i for i, p in enumerate(predicted) if is_tool_call_answer(p)]
    figures["n_predicted_tool_calls"] = float(len(answered))
    if tools is not None:
        valid = [call_problem(predicted[i], tools[i]) is None for i in answered]
        figures["tool_call_valid"] = mean([float(v) for v in valid]) if valid else 1.0
    figures.update(_text_figures(predicted, reference))
    return figures
