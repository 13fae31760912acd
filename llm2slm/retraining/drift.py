"""Drift signals of the retrain flow: pure functions of the window's assignments, the training data's and the
calls' embeddings (docs/retrain.md explains each and how to read it).

- `unassigned_share`: the share of the window's calls that the saved assigner placed in no task.
- `mix_divergence`: the Jensen-Shannon distance (base 2: 0 same mix, 1 disjoint) between the task shares of the
  window and of the data the tasks were trained on, `none` counted as a task.
- `input_shift`: a classifier two-sample test on a task's input embeddings (training calls against window calls).
  A logistic regression learns to tell the two (balanced) sides apart on half of the calls; its accuracy on the
  other half is compared with chance (exact one-sided binomial test). Identical distributions give about 0.5 and
  a large p-value.
- growth: the calls a task gained since its specialist was trained, over those it was trained on.
- shadow agreement: the champion's agreement with the LLM on the calls the gateway compared in shadow mode.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
from pydantic import BaseModel

from llm2slm.discovery.catalogue import OUTLIER

MIN_SIDE = 10  # calls a side the two-sample test needs at least (half fits the classifier, half tests it)


class ShiftTest(BaseModel):
    p_value: float
    accuracy: float  # held-out accuracy of telling window calls from training calls (0.5: no difference)
    n_per_side: int  # calls on each side after balancing


class TaskDrift(BaseModel):
    task_id: str
    n_window: int  # the window's calls assigned to the task
    n_trained: int  # calls the task had when its specialist (or its discovery) was last trained
    growth: float  # n_window over n_trained, plus what earlier windows added since then
    shift: ShiftTest | None = None  # None: fewer window calls than `retrain.min_shift_calls`
    shadow_agreement: float | None = None
    n_shadow: int = 0
    has_champion: bool = False


class DriftReport(BaseModel):
    n_window: int
    n_unassigned: int
    unassigned_share: float
    mix_divergence: float
    window_shares: dict[str, float]
    trained_shares: dict[str, float]
    tasks: list[TaskDrift]


def shares(counts: Mapping[str, int]) -> dict[str, float]:
    total = sum(counts.values())
    return {key: (n / total if total else 0.0) for key, n in sorted(counts.items())}


def unassigned_share(task_ids: Sequence[str]) -> float:
    return sum(t == OUTLIER for t in task_ids) / len(task_ids) if task_ids else 0.0


def mix_divergence(trained: Mapping[str, int], window: Mapping[str, int]) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) between the two task mixes; 0 when either is empty."""
    from scipy.spatial.distance import jensenshannon

    keys = sorted(set(trained) | set(window))
    p = np.array([trained.get(k, 0) for k in keys], dtype=np.float64)
    q = np.array([window.get(k, 0) for k in keys], dtype=np.float64)
    if not keys or p.sum() == 0 or q.sum() == 0:
        return 0.0
    return float(jensenshannon(p / p.sum(), q / q.sum(), base=2))


def _balanced(reference: np.ndarray, window: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n = min(len(reference), len(window))
    pick = lambda rows: rows[np.sort(rng.choice(len(rows), n, replace=False))]  # noqa: E731
    return pick(reference), pick(window)


def input_shift(reference: np.ndarray, window: np.ndarray, seed: int) -> ShiftTest:
    """The classifier two-sample test of `window` against `reference` (rows: embeddings): a logistic regression
    fitted on half of each side, its accuracy on the other half tested against chance (exact one-sided binomial;
    held-out predictions are independent, so the p-value holds). Raises ValueError with fewer than MIN_SIDE calls
    on a side."""
    from scipy.stats import binomtest
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    if min(len(reference), len(window)) < MIN_SIDE:
        raise ValueError(f"a two-sample test needs {MIN_SIDE} calls a side, got {len(reference)} and {len(window)}")
    ref, win = _balanced(np.asarray(reference), np.asarray(window), np.random.default_rng(seed))
    features = np.vstack([ref, win]).astype(np.float64)
    labels = np.r_[np.zeros(len(ref), dtype=int), np.ones(len(win), dtype=int)]
    fit_x, test_x, fit_y, test_y = train_test_split(features, labels, test_size=0.5, stratify=labels,
                                                    random_state=seed)
    predicted = LogisticRegression(max_iter=2000).fit(fit_x, fit_y).predict(test_x)
    correct = int((predicted == test_y).sum())
    p_value = binomtest(correct, len(test_y), 0.5, alternative="greater").pvalue
    return ShiftTest(p_value=float(p_value), accuracy=correct / len(test_y), n_per_side=len(ref))


def task_counts(task_ids: Sequence[str]) -> dict[str, int]:
    return dict(sorted(Counter(task_ids).items()))


def shadow_agreement(events: Sequence, task_id: str) -> tuple[float | None, int]:
    """(agreement, comparisons) of the task's shadow events that compared an answer (RouteEvent objects)."""
    compared = [e.agree for e in events if e.kind == "shadow" and e.task_id == task_id and e.agree is not None]
    return (sum(compared) / len(compared) if compared else None), len(compared)
