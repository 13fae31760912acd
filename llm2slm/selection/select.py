"""S4: choose the small models that will try to take over a task, or keep the task on the LLM.

In order: a task the request alone does not tell from another (discovery's `routing_safe`) stays on the
LLM; a task with fewer training calls than `select.min_calls` stays on the LLM. The task's output shape
decides the kind of model (`shapes`): a closed label set gets an encoder classifier, JSON whose values are copied
from the request gets an encoder span tagger, tool calls and other JSON or text get a generator. Each catalogue
candidate is checked against the constraints (shape, licence allowlist, memory budget, context length >= the
task's p99 tokens, offline-usable when the hub is offline), the survivors are screened on the validation split
(`screening`) and the best `select.top_k` are kept. Every candidate's verdict and reasons are in the result.
"""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import BaseModel

from llm2slm.common.config import SelectConfig
from llm2slm.common.schema import estimate_tokens
from llm2slm.discovery.catalogue import TaskEntry
from llm2slm.selection.screening import screen
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
    """Screen the eligible candidates; returns them ranked (preferred kind first, then by screen)."""
    answer_tokens = max((estimate_tokens(len(r["answer"])) + 8 for r in train), default=64)  # generation budget
    eligible = [v for v in verdicts if v.eligible]
    for verdict in eligible:
        calls = min(cfg.screen_calls, cfg.screen_generator_calls) if verdict.kind == "generator" else cfg.screen_calls
        verdict.screen, verdict.screen_method = screen(
            by_name[verdict.name], train, val[:calls], cfg.screen_shots, cfg.screen_generators,
            cfg.screen_max_params, answer_tokens)
    order = {name: i for i, name in enumerate(by_name)}
    return sorted(eligible, key=lambda v: (kinds.index(v.kind), *rank_key(order[v.name], v.screen)))


def select_candidates(task: TaskEntry, train: list[dict], val: list[dict], candidates: list[Candidate],
                      cfg: SelectConfig, offline: bool) -> Selection:
    """The selection for one task from its train and validation rows and the model catalogue."""
    answers = [row["answer"] for row in train]
    shape, reasons = task_shape(task.output_shape, answers, train, cfg.closed_label_max, cfg.closed_label_coverage,
                                cfg.span_share)
    base = {"task_id": task.task_id, "output_shape": shape, "n_train": len(train),
            "n_distinct_answers": len(set(answers))}
    if not task.routing_safe:
        reason = (f"the request alone does not tell it from {', '.join(task.confused_with)} (only the answers "
                  f"differ): a router could not send it its calls")
        log.info("task %s stays on the LLM: %s", task.task_id, reason)
        return Selection(decision="llm", reasons=[reason, *reasons], **base)
    if len(train) < cfg.min_calls:
        reason = f"{len(train)} training calls < select.min_calls={cfg.min_calls}: too few to learn from"
        log.info("task %s stays on the LLM: %s", task.task_id, reason)
        return Selection(decision="llm", reasons=[reason, *reasons], **base)
    kinds = KINDS_FOR_SHAPE[shape]
    verdicts = verdicts_for(candidates, shape, kinds, train, task.tokens, cfg, offline)
    ranked = screen_and_rank(verdicts, {c.name: c for c in candidates}, kinds, train, val, cfg)
    if not ranked:
        reasons.append(f"no {' or '.join(kinds)} candidate in the catalogue meets the constraints "
                       f"(offline={offline}); see each candidate's reasons")
        log.info("task %s stays on the LLM: %s", task.task_id, reasons[-1])
        return Selection(decision="llm", reasons=reasons, verdicts=verdicts, **base)
    kept = ranked[:cfg.top_k]
    for verdict in kept:
        verdict.kept = True
    reasons.append(f"kept the top {len(kept)} of {len(ranked)} eligible by screen: "
                   + ", ".join(f"{v.name} ({'-' if v.screen is None else f'{v.screen:.2f}'})" for v in kept))
    log.info("task %s: %s", task.task_id, "; ".join(reasons))
    return Selection(decision="specialist", candidate=kept[0].name, candidates=[v.name for v in kept],
                     model_kind=kept[0].kind, reasons=reasons, verdicts=verdicts, **base)
