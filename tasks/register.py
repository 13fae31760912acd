"""Stage: register a specialist in the MLflow model registry and move its aliases.

One registered model per task (`<prefix>-<task_id>`). Each new version gets the alias `challenger`; it also gets
`champion` when the promotion policy (mlflow/promotion_policy.yaml) is in auto mode and the version passes its
gate. Otherwise `llm2slm promote` moves champion later. The rules and the audit trail live in llm2slm.registry.versions.
"""

from __future__ import annotations

import logging
from pathlib import Path

from prefect import task

from llm2slm.common.config import RegistryConfig
from llm2slm.registry.versions import RegisteredVersion, load_policy, model_name, register_version

log = logging.getLogger("llm2slm.register")


@task(name="register")
def register_specialist(task_id: str, model_uri: str, shape: str, metrics: dict[str, float],
                        tags: dict[str, str], cfg: RegistryConfig, policy_path: Path,
                        tracking_uri: str) -> RegisteredVersion:
    policy = load_policy(policy_path)
    name = model_name(cfg.model_prefix, task_id)
    result = register_version(tracking_uri, name, task_id, model_uri, shape, metrics, tags, policy)
    log.info("registered %s version %s (%s); gate (%s mode): %s", name, result.version, ", ".join(result.aliases),
             policy.mode, "; ".join(result.gate_reasons))
    return result
