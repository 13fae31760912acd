"""Summary statistics shared by discovery, selection, training, evaluation and the benchmarks: one percentile
method (numpy's default, linear interpolation between the closest ranks)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def percentiles(values: Sequence[float] | np.ndarray, qs: Sequence[float] | np.ndarray) -> np.ndarray:
    """The `qs`-th percentiles (each 0-100) of `values`, as float64; zeros when there are no values."""
    if len(values) == 0:
        return np.zeros(len(qs))
    return np.percentile(np.asarray(values, dtype=np.float64), np.asarray(qs, dtype=np.float64))


def percentile(values: Sequence[float] | np.ndarray, q: float, empty: float = 0.0) -> float:
    """The q-th percentile (0-100) of `values`; `empty` when there are no values."""
    if len(values) == 0:
        return empty
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def percentile_ceil(values: Sequence[float] | np.ndarray, q: float, empty: int = 0) -> int:
    """`percentile` rounded up to a whole number: token budgets must not fall short."""
    return int(math.ceil(percentile(values, q, float(empty))))
