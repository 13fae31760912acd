"""S4: choose the small models that will try to take over a task, or keep the task on the LLM.

In order: a task the request alone does not tell from another (discovery's `routing_safe`) stays on the
LLM; a task with fewer training calls than `select.min_calls` stays on the LLM. The task's output shape
decides the kind of model (`shapes`): a closed label set gets an encoder classifier, JSON whose values are copied
from the request gets an encoder span tagger, tool calls and other JSON or text get a generator. Each catalogue
candidate is checked against the constraints (shape, licence allowlist, memory budget, context length >= the
task's p99 tokens, offline-usable when the hub is offline), the survivors are screened on the validation split
(`screening`) and the best `select.top_k` are kept. Every candidate's verdict and reasons are in the result.

Two rules are about generators, which cost minutes each on a CPU. A tool-calling task whose validation calls mostly
offer tool sets its training calls never offered (`tool_sets`) stays on the LLM unless a candidate's zero-shot
screen reaches `select.generalist_screen`. When the conversion's generators are spent (`generators_left` 0), the
generators are not screened and a task only a generator would serve stays on the LLM.
"""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import BaseModel

from llm2slm.common.config import SelectConfig
from llm2slm.common.schema import estimate_tokens
from llm2slm.discovery.catalogue import TaskEntry
from llm2slm.selection.screening import screen
from llm2slm.selection.tool_sets import tool_set_reuse
from llm2slm.selection.shapes import KINDS_FOR_SHAPE, constraint_failures, input_tokens_p99, rank_key, task_shape
from llm2slm.training.catalogue import Candidate

log = logging.getLogger("llm2slm.select")


class CandidateVerdict(BaseModel):
    name: str
    kind: str
    eligible: bool
    kept: bool = False
    screen: float | None = None
    screen_method: str | None = None
    reasons: list[str]


class Selection(BaseModel):
    task_id: str
    decision: Literal["specialist", "llm"]
    output_shape: str
    n_train: int
    n_distinct_answers: int
    candidate: str | None = None  # the best kept candidate
    candidates: list[str] = []  # every kept candidate, best first (at most select.top_k)
    model_kind: Literal["classifier", "span_tagger", "generator"] | None = None
    reasons: list[str]
    verdicts: list[CandidateVerdict] = []


def verdicts_for(candidates: list[Candidate], shape: str, kinds: tuple[str, ...], rows: list[dict],
                 tokens: dict | None, cfg: SelectConfig, offline: bool) -> list[CandidateVerdict]:
    """Each candidate's eligibility for the task, with the reasons."""
    verdicts = []
    for candidate in candidates:
        if candidate.kind not in kinds:
            verdicts.append(CandidateVerdict(name=candidate.name, kind=candidate.kind, eligible=False,
                                             reasons=[f"a {candidate.kind} does not serve {shape} tasks"]))
            continue
        needed = input_tokens_p99(rows, tokens, candidate.kind)
        problems = constraint_failures(candidate, shape, needed, cfg.licences, cfg.memory_budget_mib,
                                       cfg.precision, offline)
        verdicts.append(CandidateVerdict(name=candidate.name, kind=candidate.kind, eligible=not problems,
                                         reasons=problems or [f"fits: p99 input {needed} tokens, "
                                                              f"{candidate.memory_mib(cfg.precision):,.0f} MiB "
                                                              f"{cfg.precision}, licence {candidate.licence}"]))
    return verdicts


def screen_and_rank(verdicts: list[CandidateVerdict], by_name: dict[str, Candidate], kinds: tuple[str, ...],
                    train: list[dict], val: list[dict], cfg: SelectConfig) -> list[CandidateVerdict]:
    """Screen the eligible candidates; returns them ranked (preferred kind first, then by screen). A candidate of a
    less preferred kind is not screened when `select.top_k` candidates of preferred kinds are eligible: it could not
    be kept (a span task's generators cost seconds a call to screen and would rank below the span tagger)."""
    answer_tokens = max((estimate_tokens(len(r["answer"])) + 8 for r in train), default=64)  # generation budget
    eligible = [v for v in verdicts if v.eligible]
    for verdict in eligible:
        preferred = sum(kinds.index(v.kind) < kinds.index(verdict.kind) for v in eligible)
        if preferred >= cfg.top_k:
            verdict.screen_method = f"not screened: {preferred} eligible candidates of a preferred kind"
            continue
        calls = min(cfg.screen_calls, cfg.screen_generator_calls) if verdict.kind == "generator" else cfg.screen_calls
        verdict.screen, verdict.screen_method = screen(
            by_name[verdict.name], train, val[:calls], cfg.screen_shots, cfg.screen_generators,
            cfg.screen_max_params, answer_tokens)
    order = {name: i for i, name in enumerate(by_name)}
    return sorted(eligible, key=lambda v: (kinds.index(v.kind), *rank_key(order[v.name], v.screen)))


GENERATORS_SPENT = ("this conversion's generators are spent (finetune.generator_max_tasks; null trains every "
                    "task)")


def spend_generators(verdicts: list[CandidateVerdict]) -> bool:
    """Mark the eligible generators ineligible (the conversion trains no more of them); whether any was."""
    spent = [v for v in verdicts if v.eligible and v.kind == "generator"]
    for verdict in spent:
        verdict.eligible, verdict.reasons = False, [*verdict.reasons, f"{GENERATORS_SPENT}: not screened"]
    return bool(spent)


def select_candidates(task: TaskEntry, train: list[dict], val: list[dict], candidates: list[Candidate],
                      cfg: SelectConfig, offline: bool, generators_left: int | None = None) -> Selection:
    """The selection for one task from its train and validation rows and the model catalogue; `generators_left`:
    how many more generators this conversion may train (None: no cap; 0: generators are not screened)."""
    answers = [row["answer"] for row in train]
    shape, reasons = task_shape(task.output_shape, answers, train, cfg.closed_label_max, cfg.closed_label_coverage,
                                cfg.span_share)
    base = {"task_id": task.task_id, "output_shape": shape, "n_train": len(train),
            "n_distinct_answers": len(set(answers))}
    if not task.routing_safe:
        reason = (f"the request alone does not tell it from {', '.join(task.confused_with)} (only the answers "
                  f"differ): a router could not send it its calls")
        return _on_llm(task, base, [reason, *reasons])
    if len(train) < cfg.min_calls:
        reason = f"{len(train)} training calls < select.min_calls={cfg.min_calls}: too few to learn from"
        return _on_llm(task, base, [reason, *reasons])
    kinds = KINDS_FOR_SHAPE[shape]
    reuse = tool_set_reuse(train, val) if shape == "tool_call" else None
    generalist = reuse is not None and reuse.share < cfg.min_tool_set_reuse  # new tools on most calls
    if reuse is not None:
        reasons.append(reuse.describe())
    verdicts = verdicts_for(candidates, shape, kinds, train, task.tokens, cfg, offline)
    spent = generators_left == 0 and not generalist and spend_generators(verdicts)
    ranked = screen_and_rank(verdicts, {c.name: c for c in candidates}, kinds, train, val, cfg)
    if not ranked:
        reasons.append(f"a generator would serve it, but {GENERATORS_SPENT}" if spent else
                       f"no {' or '.join(kinds)} candidate in the catalogue meets the constraints "
                       f"(offline={offline}); see each candidate's reasons")
        return _on_llm(task, base, reasons, verdicts)
    best = ranked[0]
    if generalist and (best.screen or 0.0) < cfg.generalist_screen:
        reasons.append(f"most of its calls offer tools never offered in training (share {reuse.share:.0%} < "
                       f"select.min_tool_set_reuse {cfg.min_tool_set_reuse:.0%}) and the best zero-shot screen, "
                       f"{best.name} {'-' if best.screen is None else f'{best.screen:.2f}'}, is below "
                       f"select.generalist_screen {cfg.generalist_screen:.2f}: a specialist would have to call "
                       f"tools it never trained on")
        return _on_llm(task, base, reasons, verdicts)
    if generators_left == 0 and best.kind == "generator":
        return _on_llm(task, base, [*reasons, f"a generator would serve it, but {GENERATORS_SPENT}"], verdicts)
    kept = ranked[:cfg.top_k]
    for verdict in kept:
        verdict.kept = True
    reasons.append(f"kept the top {len(kept)} of {len(ranked)} eligible by screen: "
                   + ", ".join(f"{v.name} ({'-' if v.screen is None else f'{v.screen:.2f}'})" for v in kept))
    log.info("task %s: %s", task.task_id, "; ".join(reasons))
    return Selection(decision="specialist", candidate=kept[0].name, candidates=[v.name for v in kept],
                     model_kind=kept[0].kind, reasons=reasons, verdicts=verdicts, **base)


def _on_llm(task: TaskEntry, base: dict, reasons: list[str],
            verdicts: list[CandidateVerdict] | None = None) -> Selection:
    log.info("task %s stays on the LLM: %s", task.task_id, reasons[-1] if verdicts is not None else reasons[0])
    return Selection(decision="llm", reasons=reasons, verdicts=verdicts or [], **base)
