"""The champion re-evaluated on the challenger's test calls, so the promotion gate compares the two on equal footing.

A champion's figures on its version tags were measured on the test split of the conversion that registered it;
a challenger's on today's. Tested on easier calls, a challenger could pass by luck. Here the champion answers
exactly the rows the challenger was scored on and gets the same quality figures (`quality_figures`: the
shape's and `agreement_non_majority` with the task's majority answer). Its answers are cached per registered
model, version and call id (`llm2slm.evaluation.answer_cache`), so only calls it has not answered are predicted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from llm2slm.evaluation.answer_cache import AnswerCache, CachedAnswer
from llm2slm.evaluation.calibration import majority_answer
from llm2slm.evaluation.evaluate import Predictor, _request_key, quality_figures


class ChampionFigures(BaseModel):
    """The champion's quality figures on the current test calls, and how its answers were had."""

    name: str  # registered model
    version: str
    shape: str
    metrics: dict[str, float]
    n_calls: int  # test calls scored: the challenger's
    n_cached: int  # of them answered from the cache
    n_predicted: int  # of them predicted now


def request_digest(row: Mapping[str, Any]) -> str:
    """A digest of the scrubbed request a row holds (messages and tools): what a cached answer was given to."""
    return hashlib.sha256(_request_key(row).encode("utf-8")).hexdigest()


def answers_with_cache(predictor: Predictor, rows: Sequence[Mapping[str, Any]],
                       known: Mapping[str, CachedAnswer]) -> tuple[list[str], dict[str, CachedAnswer]]:
    """(each row's answer, the answers predicted now by call id): a row whose call id is in `known` with the same
    request is answered from it; the others are predicted in one batch (a specialist is deterministic)."""
    digests = [request_digest(row) for row in rows]
    todo = [i for i, row in enumerate(rows) if known.get(str(row["id"]), CachedAnswer("", "")).request != digests[i]]
    predicted = predictor.predict_rows([rows[i] for i in todo]) if todo else []
    fresh = {str(rows[i]["id"]): CachedAnswer(digests[i], answer) for i, answer in zip(todo, predicted, strict=True)}
    answered = {**known, **fresh}
    return [answered[str(row["id"])].answer for row in rows], fresh


def reevaluate(predictor: Predictor, name: str, version: str, rows: Sequence[Mapping[str, Any]], shape: str,
               cache: AnswerCache, majority: str | None = None) -> ChampionFigures:
    """The quality figures of `name` version `version` (loaded as `predictor`) on `rows`, answered from `cache`
    where it can be and the new answers kept there; `majority`: the task's most frequent answer (default: the
    rows', as the evaluation does without calibration rows)."""
    if not rows:
        raise ValueError(f"no test call to re-evaluate {name} version {version} on")
    predicted, fresh = answers_with_cache(predictor, rows, cache.read(name, version))
    cache.add(name, version, fresh)
    if majority is None:
        majority = majority_answer([row["answer"] for row in rows])
    return ChampionFigures(name=name, version=str(version), shape=shape,
                           metrics=quality_figures(shape, predicted, rows, majority), n_calls=len(rows),
                           n_cached=len(rows) - len(fresh), n_predicted=len(fresh))
