"""Which champion figure the promotion gate compares a challenger with, and what the gate and the audit trail say
about where it comes from.

The figures on the champion's version tags were measured on the test split of the conversion that registered it.
When the champion was re-evaluated on the challenger's test calls (`llm2slm.evaluation.champion`), the gate reads
those instead, so both are judged on the same calls; the tag figure stays in the audit event for reference. The
tags are read as before when there is no re-evaluation, when it is of a version that no longer holds `champion`
(it moved meanwhile), or when it lacks the rule's figure (e.g. a `raw_` or `route_` figure, not re-measured).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:  # the registry is read by the CLI and the gateway: no evaluation imports at run time
    from llm2slm.evaluation.champion import ChampionFigures


class ChampionBasis(BaseModel):
    """The champion's figures the gate reads, the note its comparison line ends with, the audit event's figures."""

    metrics: dict[str, float] | None = None
    note: str = ""
    figures: dict[str, Any] = {}


def champion_basis(champion: str | None, tag_metrics: dict[str, float] | None, metric: str | None,
                   reevaluated: ChampionFigures | None) -> ChampionBasis:
    """The basis of the champion comparison: `champion` the version holding the alias (None: no comparison),
    `tag_metrics` its version tags' figures, `metric` the gate rule's figure, `reevaluated` its re-evaluation on
    the challenger's test calls when there is one."""
    if champion is None:
        return ChampionBasis()
    tag_value = (tag_metrics or {}).get(metric) if metric else None
    figures: dict[str, Any] = {"champion_version": champion, "champion_tag_value": tag_value}
    why_not = _unusable(champion, metric, reevaluated)
    if why_not is not None or reevaluated is None:
        note = f"champion version {champion}: its registration figure" + (f"; {why_not}" if why_not else "")
        return ChampionBasis(metrics=tag_metrics, note=note, figures={**figures, "champion_basis": "tags"})
    tag_text = f"{tag_value:.3f}" if tag_value is not None else "none"
    note = (f"champion version {champion} re-evaluated on {reevaluated.n_calls} current test calls, "
            f"{reevaluated.n_cached} answered from the cache; {tag_text} at its registration")
    return ChampionBasis(metrics=dict(reevaluated.metrics), note=note, figures={
        **figures, "champion_basis": "re-evaluated", "champion_reevaluated_calls": reevaluated.n_calls,
        "champion_cached_answers": reevaluated.n_cached, "champion_predicted_answers": reevaluated.n_predicted})


def _unusable(champion: str, metric: str | None, reevaluated: ChampionFigures | None) -> str | None:
    """Why the re-evaluation cannot be compared with ("" when there is none), or None when it can."""
    if reevaluated is None:
        return ""
    if reevaluated.version != str(champion):
        return f"version {reevaluated.version} was re-evaluated but no longer holds champion"
    if metric is None or metric not in reevaluated.metrics:
        return f"{metric} is not one of the re-evaluated figures"
    return None
