"""Every drift signal of one window, per task and window-wide (`DriftReport`), from the window's calls and their
tasks, the data the tasks were trained on and the gateway's shadow comparisons. `embed` turns calls into input
embeddings (`input_embedder`: the discovery's content text, MiniLM by default); it is only called for tasks with
at least `retrain.min_shift_calls` calls in the window, on at most `retrain.shift_max_calls` calls a side."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from llm2slm.common.retrain_config import RetrainConfig
from llm2slm.common.schema import CallRecord
from llm2slm.common.templates import Templates
from llm2slm.discovery.catalogue import OUTLIER
from llm2slm.retraining.drift import (DriftReport, TaskDrift, input_shift, mix_divergence, shadow_agreement, shares,
                                      task_counts, unassigned_share)

log = logging.getLogger("llm2slm.retrain")
Embed = Callable[[list[CallRecord]], np.ndarray]


def input_embedder(model: str, max_chars: int, templates: Templates) -> Embed:
    """Unit embeddings of the calls' inputs (the content text discovery embeds, without the system prompt)."""
    from llm2slm.discovery.embed import BATCH_SIZE, embed_texts
    from llm2slm.discovery.text import content_text

    def embed(records: list[CallRecord]) -> np.ndarray:
        return embed_texts([content_text(r, max_chars, templates) for r in records], model, BATCH_SIZE,
                           progress=False)
    return embed


def _sample(records: list[CallRecord], limit: int, seed: int) -> list[CallRecord]:
    return sorted(random.Random(seed).sample(records, limit), key=lambda r: r.id) if len(records) > limit else records


def task_drift(task_id: str, window: list[CallRecord], trained: list[CallRecord], n_trained: int, embed: Embed,
               events: Sequence, cfg: RetrainConfig) -> TaskDrift:
    """One task's signals: `window` its window calls, `trained` its calls in the datasets before the window,
    `n_trained` its size when it was last trained."""
    added = len(trained) - n_trained + len(window)  # what earlier windows added since training, and this one
    drift = TaskDrift(task_id=task_id, n_window=len(window), n_trained=n_trained,
                      growth=added / n_trained if n_trained else float(bool(added)))
    if len(window) >= cfg.min_shift_calls and len(trained) >= cfg.min_shift_calls:
        reference = embed(_sample(trained, cfg.shift_max_calls, cfg.seed))
        current = embed(_sample(window, cfg.shift_max_calls, cfg.seed))
        drift.shift = input_shift(reference, current, cfg.seed)
        log.info("task %s: two-sample test of %d window calls against %d trained ones: p %.3g, accuracy %.3f",
                 task_id, len(current), len(reference), drift.shift.p_value, drift.shift.accuracy)
    drift.shadow_agreement, drift.n_shadow = shadow_agreement(events, task_id)
    return drift


def measure(window: list[CallRecord], window_tasks: Mapping[str, str], datasets: list[CallRecord],
            dataset_tasks: Mapping[str, str], task_ids: list[str], trained_sizes: Mapping[str, int], embed: Embed,
            events: Sequence, cfg: RetrainConfig) -> DriftReport:
    """The window's drift report. `task_ids`: the known tasks, in catalogue order; `trained_sizes`: each one's
    size at its last training (a task missing from it: its size in the datasets)."""
    placed = [window_tasks.get(r.id, OUTLIER) for r in window]
    fresh = {r.id for r in window}
    datasets = [r for r in datasets if r.id not in fresh]  # a rerun after the window joined them: not twice
    trained_counts = task_counts([t for i, t in dataset_tasks.items() if i not in fresh])
    window_counts = task_counts(placed)
    by_task: dict[str, tuple[list[CallRecord], list[CallRecord]]] = {t: ([], []) for t in task_ids}
    for record, task in zip(window, placed, strict=True):
        if task in by_task:
            by_task[task][0].append(record)
    for record in datasets:
        task = dataset_tasks.get(record.id)
        if task in by_task:
            by_task[task][1].append(record)
    drifts = [task_drift(t, new, old, trained_sizes.get(t, len(old)), embed, events, cfg)
              for t, (new, old) in by_task.items()]
    return DriftReport(n_window=len(window), n_unassigned=window_counts.get(OUTLIER, 0),
                       unassigned_share=unassigned_share(placed),
                       mix_divergence=mix_divergence(trained_counts, window_counts), window_shares=shares(window_counts),
                       trained_shares=shares(trained_counts), tasks=drifts)
