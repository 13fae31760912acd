"""Summary statistics shared by discovery, selection, training and evaluation: one percentile method."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def percentile(values: Sequence[float], q: float, empty: float = 0.0) -> float:
    """The q-th percentile (0-100) by numpy's default (linear) method; `empty` when there are no values."""
    if len(values) == 0:
        return empty
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def percentile_ceil(values: Sequence[float], q: float, empty: int = 0) -> int:
    """`percentile` rounded up to a whole number: token budgets must not fall short."""
    return int(math.ceil(percentile(values, q, float(empty))))
