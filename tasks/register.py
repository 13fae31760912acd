"""Register: the chosen specialist as a new version of its task's MLflow registered model (`<prefix>-<task_id>`),
`challenger` always and `champion` when the promotion policy is auto and the gate passes
(`llm2slm.registry.versions`), with its evaluation figures and its calibrated deferral threshold as version tags
(`route_tags`: what the router reads). With the champion re-evaluated on the challenger's test calls
(`tasks.champion`), the gate compares with those figures rather than the champion's tags. The registry is a
server at scale, so the call is retried."""

from __future__ import annotations

import logging

from prefect import task

from llm2slm.common.config import Config
from llm2slm.discovery.catalogue import TaskEntry
from llm2slm.evaluation.champion import ChampionFigures
from llm2slm.evaluation.evaluate import Evaluation
from llm2slm.registry.outcomes import model_description
from llm2slm.registry.versions import RegisteredVersion, load_policy, model_name, register_version, route_tags

log = logging.getLogger("llm2slm.register")


@task(name="register", retries=2, retry_delay_seconds=5)
def register(cfg: Config, entry: TaskEntry, model_uri: str, best: Evaluation, tags: dict[str, str],
             champion: ChampionFigures | None = None) -> RegisteredVersion:
    policy = load_policy(cfg.policy_path())
    name = model_name(cfg.registry.model_prefix, entry.task_id)
    calibrated = best.calibration
    route = route_tags(calibrated.threshold, calibrated.target) if calibrated else {}
    result = register_version(cfg.mlflow_tracking_uri, name, entry.task_id, model_uri, best.output_shape,
                              best.metrics, {**tags, **route, "llm2slm.candidate": best.candidate or ""}, policy,
                              description=model_description(entry, best.output_shape), champion_metrics=champion)
    log.info("registered %s version %s (%s), deferral threshold %s; gate (%s mode): %s", name, result.version,
             ", ".join(result.aliases), route.get("llm2slm.route.threshold", "none"), policy.mode,
             "; ".join(result.gate_reasons))
    return result
