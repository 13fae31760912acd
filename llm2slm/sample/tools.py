"""Tool calling (BFCL): a tool-using assistant answers with function calls, or declines when no tool fits."""

from __future__ import annotations

import json
import random
import string
from pathlib import Path
from typing import Any

from llm2slm.sample.common import Example, assistant, read_jsonl_gz, system, user
from llm2slm.common.schema import FunctionCall, FunctionSpec, Message, Tool, ToolCall

WITH_ANSWERS: tuple[str, ...] = ("simple_python", "multiple", "parallel", "parallel_multiple")
IRRELEVANCE = "irrelevance"
NO_TOOL_LABEL = "no_tool_call"
TYPE_MAP: dict[str, str] = {"dict": "object", "float": "number", "tuple": "array"}
ID_CHARS = string.ascii_letters + string.digits

PROMPT = (
    "You are a helpful assistant with access to functions. When the user's request can be served by the provided "
    "tools, call them with arguments taken from the request; make several calls at once when the request needs "
    "them. If none of the tools fits, say so briefly instead of calling one."
)


def convert_schema(node: Any) -> Any:
    """BFCL's Python-flavoured JSON schema -> OpenAI JSON schema ("dict"->"object", "float"->"number", ...)."""
    if isinstance(node, list):
        return [convert_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "type" and isinstance(value, str):
            if value == "any":
                continue
            out[key] = TYPE_MAP.get(value, value)
        else:
            out[key] = convert_schema(value)
    return out


def tool_name(name: str) -> str:
    """OpenAI function names allow only [A-Za-z0-9_-]; BFCL's dotted names get underscores, as BFCL does."""
    return name.replace(".", "_")


def to_tool(function: dict[str, Any]) -> Tool:
    spec = FunctionSpec(
        name=tool_name(function["name"]),
        description=function.get("description"),
        parameters=convert_schema(function.get("parameters", {})),
    )
    return Tool(function=spec)


def first_acceptable(values: Any) -> tuple[bool, Any]:
    """(present, value) from a list of acceptable values: the first one; "" first means "leave it out"."""
    if not isinstance(values, list):
        return True, values
    if not values or (isinstance(values[0], str) and values[0] == ""):
        return False, None
    return True, resolve(values[0])


def resolve(value: Any) -> Any:
    """A ground-truth value with nested dicts of acceptable-value lists collapsed to their first choices."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, values in value.items():
            present, chosen = first_acceptable(values)
            if present:
                out[key] = chosen
        return out
    if isinstance(value, list):
        return [resolve(item) if isinstance(item, dict) else item for item in value]
    return value


def call_id(rng: random.Random) -> str:
    return "call_" + "".join(rng.choice(ID_CHARS) for _ in range(24))


def tool_calls(ground_truth: list[dict[str, Any]], rng: random.Random) -> list[ToolCall]:
    calls: list[ToolCall] = []
    for expected in ground_truth:
        ((name, params),) = expected.items()
        arguments = resolve(params)
        encoded = json.dumps(arguments, ensure_ascii=False, separators=(",", ":"))
        calls.append(ToolCall(id=call_id(rng), function=FunctionCall(name=tool_name(name), arguments=encoded)))
    return calls


def _first_sentence(description: str | None) -> str:
    text = (description or "").strip().split(". ")[0].rstrip(".")
    return text or "a different task"


def refusal(functions: list[dict[str, Any]], rng: random.Random) -> str:
    """A short, natural decline that names what the offered tools do instead."""
    names = [tool_name(f["name"]) for f in functions]
    if len(names) == 1:
        what = _first_sentence(functions[0].get("description"))
        options = (
            f"None of the available tools can do that: the only one I have is {names[0]} ({what}).",
            f"None of the available tools can do that. {names[0]} is for something else ({what}), so I can't "
            "answer this with it.",
        )
    else:
        listed = ", ".join(names[:-1]) + " and " + names[-1]
        options = (
            f"None of the available tools can do that: {listed} don't cover this request.",
            f"None of the available tools can do that. I only have {listed}, which are for other tasks.",
        )
    return rng.choice(options)


def load_questions(sources: Path) -> list[tuple[dict[str, Any], list[dict[str, Any]] | None]]:
    """(question, ground truth) pairs in a fixed order; irrelevance questions have no ground truth (None)."""
    folder = sources / "bfcl"
    pairs: list[tuple[dict[str, Any], list[dict[str, Any]] | None]] = []
    for category in WITH_ANSWERS:
        answer_file = folder / "possible_answer" / f"BFCL_v4_{category}.json.gz"
        answers = {r["id"]: r["ground_truth"] for r in read_jsonl_gz(answer_file)}
        pairs.extend((q, answers[q["id"]]) for q in read_jsonl_gz(folder / f"BFCL_v4_{category}.json.gz"))
    pairs.extend((q, None) for q in read_jsonl_gz(folder / f"BFCL_v4_{IRRELEVANCE}.json.gz"))
    return pairs


def make_example(question: dict[str, Any], ground_truth: list[dict[str, Any]] | None, rng: random.Random) -> Example:
    turn: list[dict[str, Any]] = question["question"][0]
    source_id: str = question["id"]
    messages = [system(PROMPT)] + [Message(role=m["role"], content=m["content"]) for m in turn]
    tools = [to_tool(f) for f in question["function"]]
    if ground_truth is None:
        text = refusal(question["function"], rng)
        return Example("tool_calling", messages, assistant(text), "stop", NO_TOOL_LABEL, tools, source_id=source_id)
    calls = tool_calls(ground_truth, rng)
    response = Message(role="assistant", content=None, tool_calls=calls)
    label = ";".join(c.function.name for c in calls)
    return Example("tool_calling", messages, response, "tool_calls", label, tools, source_id=source_id)


def build_tools(sources: Path, rng: random.Random, total: int) -> list[Example]:
    """Every question once (or a sample of `total`), then up to one repeat of each to reach `total`.

    Which copy counts as the repeat is decided by time, once the calls are scheduled."""
    pairs = load_questions(sources)
    first = rng.sample(pairs, min(total, len(pairs)))
    repeats = rng.sample(pairs, min(total - len(first), len(pairs)))
    examples = [make_example(q, gt, rng) for q, gt in first + repeats]
    rng.shuffle(examples)
    return examples
