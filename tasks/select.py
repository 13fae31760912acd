"""Stage S4: choose the small model that will take over a task, or keep the task on the LLM.

Rules, in order: a task with fewer training calls than `select.min_calls` stays on the LLM; a closed set of
answers (few distinct answers covering nearly every call) gets an encoder classifier; any other shape (JSON,
tool calls, free text) gets a generator. Among the catalogue's candidates of the right kind, the first one usable
here is chosen (offline-usable ones when the hub is unreachable). Every decision carries its reasons.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path
from typing import Literal

from prefect import task
from pydantic import BaseModel

from llm2slm.config import SelectConfig
from llm2slm.training.catalogue import Candidate, load_catalogue
from tasks.split import read_split

log = logging.getLogger("llm2slm.select")

OutputShape = Literal["closed_label", "json", "tool_call", "free_text"]


class Selection(BaseModel):
    task_id: str
    decision: Literal["specialist", "llm"]
    output_shape: str
    n_train: int
    n_distinct_answers: int
    candidate: str | None = None
    model_kind: Literal["classifier", "generator"] | None = None
    reasons: list[str]


def answer_profile(answers: list[str], max_labels: int, coverage: float) -> tuple[bool, int]:
    """(is the answer set closed?, number of distinct answers)."""
    counts = Counter(answers)
    top = sum(n for _, n in counts.most_common(max_labels))
    closed = len(counts) <= max_labels and top >= coverage * max(1, len(answers)) and len(counts) < len(answers)
    return closed, len(counts)


def choose_candidate(candidates: list[Candidate], kind: str, shape: str, offline: bool) -> Candidate | None:
    for candidate in candidates:
        if candidate.kind != kind or shape not in candidate.output_shapes:
            continue
        if offline and not candidate.offline:
            continue
        return candidate
    return None


@task(name="select")
def select_model(task_id: str, task_dir: Path, discovered_shape: str, cfg: SelectConfig,
                 catalogue: Path) -> Selection:
    train = read_split(task_dir, "train")
    closed, distinct = answer_profile([row["answer"] for row in train], cfg.closed_label_max,
                                      cfg.closed_label_coverage)
    shape = "closed_label" if closed else (discovered_shape if discovered_shape != "closed_label" else "free_text")
    base = {"task_id": task_id, "output_shape": shape, "n_train": len(train), "n_distinct_answers": distinct}
    if len(train) < cfg.min_calls:
        reason = f"{len(train)} training calls < select.min_calls={cfg.min_calls}: too few to learn from"
        return Selection(decision="llm", reasons=[reason], **base)
    kind = "classifier" if closed else "generator"
    reasons = [
        f"{distinct} distinct answers over {len(train)} calls -> "
        + ("a closed label set: encoder classifier" if closed else f"shape {shape}: generator")
    ]
    offline = os.environ.get("HF_HUB_OFFLINE", "0") == "1"
    chosen = choose_candidate(load_catalogue(catalogue), kind, shape, offline)
    if chosen is None:
        reasons.append(f"no {kind} candidate for shape {shape} in the catalogue {catalogue.name} "
                       f"(offline={offline})")
        return Selection(decision="llm", reasons=reasons, **base)
    reasons.append(f"first {kind} candidate usable here{' offline' if offline else ''}: {chosen.name}")
    log.info("task %s: %s", task_id, "; ".join(reasons))
    return Selection(decision="specialist", candidate=chosen.name, model_kind=kind, reasons=reasons, **base)
