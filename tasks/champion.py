"""Re-evaluate the champion: the task's current `champion` version downloaded from the registry and scored on exactly
the test calls the challenger was scored on (`llm2slm.evaluation.champion`), so the promotion gate compares the two
on the same calls rather than with figures the champion got on an older test split. Its answers are cached by call
id under the run's home (`answer_cache`): only the calls it has not answered yet are predicted."""

from __future__ import annotations

import logging

from prefect import task

from llm2slm.common.artifacts import Artifacts
from llm2slm.common.config import Config
from llm2slm.discovery.catalogue import TaskEntry
from llm2slm.evaluation.answer_cache import AnswerCache
from llm2slm.evaluation.champion import ChampionFigures, reevaluate
from llm2slm.evaluation.evaluate import Evaluation
from llm2slm.registry.versions import CHAMPION, alias_version, model_name, registry_client
from tasks.evaluate import split_rows, task_majority

log = logging.getLogger("llm2slm.champion")

# why a champion cannot be re-evaluated (its files cannot be downloaded or loaded): the gate then reads its tags
UNLOADABLE = (OSError, ValueError, RuntimeError, KeyError)


@task(name="reevaluate-champion")
def reevaluate_champion(cfg: Config, entry: TaskEntry, shape: str, scored: Evaluation) -> ChampionFigures | None:
    """The champion's figures on the test calls `scored` (the challenger's evaluation) was measured on; None when
    the task's registered model has no champion, or (with a warning) when it cannot be loaded or the test rows
    are no longer those the challenger was scored on."""
    from mlflow.exceptions import MlflowException

    from llm2slm.serving.routes import load_registered

    name = model_name(cfg.registry.model_prefix, entry.task_id)
    champion = alias_version(registry_client(cfg.mlflow_tracking_uri), name, CHAMPION)
    if champion is None:
        log.info("task %s: %s has no champion to re-evaluate", entry.task_id, name)
        return None
    rows = split_rows(cfg, entry.task_id, "test", scored.n_test)
    if len(rows) != scored.n_test:
        log.warning("task %s: %d test calls, the challenger was scored on %d: the gate reads the champion's tags",
                    entry.task_id, len(rows), scored.n_test)
        return None
    art = Artifacts(cfg.paths)
    try:
        specialist = load_registered(cfg.mlflow_tracking_uri, name, champion, art.serving_models)
    except (MlflowException, *UNLOADABLE) as exc:
        log.warning("task %s: champion %s version %s not re-evaluated, the gate reads its tags: %s", entry.task_id,
                    name, champion, f"{type(exc).__name__}: {str(exc)[:300]}")
        return None
    majority = task_majority(cfg, entry.task_id, split_rows(cfg, entry.task_id, "val", scored.n_test))
    figures = reevaluate(specialist, name, champion, rows, shape, AnswerCache(art.answer_cache), majority or None)
    log.info("task %s: champion %s version %s re-evaluated on %d test calls (%d answers from the cache, %d "
             "predicted): %s", entry.task_id, name, champion, figures.n_calls, figures.n_cached, figures.n_predicted,
             ", ".join(f"{k} {v:.3f}" for k, v in figures.metrics.items() if not k.startswith("n_")))
    return figures
