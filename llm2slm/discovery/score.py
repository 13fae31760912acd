"""How well discovery recovered known sub-tasks: what the demo and the benchmarks print."""

from __future__ import annotations

from pathlib import Path

from llm2slm.discovery.catalogue import read_assignments


def adjusted_rand(assignments: Path, answer_key: dict[str, str]) -> float:
    """Adjusted Rand index of the discovered tasks against known task kinds, over the calls in both
    (outliers count as one more group)."""
    from sklearn.metrics import adjusted_rand_score

    found = read_assignments(assignments)
    common = sorted(set(found) & set(answer_key))
    if not common:
        raise ValueError(f"no call of {assignments} is in the answer key: cannot compare")
    return float(adjusted_rand_score([answer_key[i] for i in common], [found[i] for i in common]))
