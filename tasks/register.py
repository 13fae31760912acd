"""Stage: register a specialist in the MLflow model registry and move its aliases.

One registered model per task (`<prefix>-<task_id>`). Each new version gets the alias `challenger`; it also gets
`champion` when it passes the gate (agreement with the LLM >= registry.champion_min_agreement). Every alias move
is recorded on the version as a tag `alias.<name>` holding who, when, why and the gate's figures.
"""

from __future__ import annotations

import getpass
import json
import logging
from datetime import datetime, timezone

from prefect import task
from pydantic import BaseModel

from llm2slm.config import RegistryConfig

log = logging.getLogger("llm2slm.register")


class RegisteredVersion(BaseModel):
    task_id: str
    name: str
    version: str
    aliases: list[str]
    gate_passed: bool
    gate_reason: str


def model_name(prefix: str, task_id: str) -> str:
    return f"{prefix}-{task_id}"


def gate(agreement: float, cfg: RegistryConfig) -> tuple[bool, str]:
    threshold = cfg.champion_min_agreement
    if agreement >= threshold:
        return True, f"agreement {agreement:.3f} >= {threshold:.3f}"
    return False, f"agreement {agreement:.3f} < {threshold:.3f}"


def move_alias(client, name: str, alias: str, version: str, why: str, figures: dict) -> None:
    client.set_registered_model_alias(name, alias, version)
    record = {
        "by": getpass.getuser(),
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "why": why,
        "figures": figures,
    }
    client.set_model_version_tag(name, version, f"alias.{alias}", json.dumps(record, sort_keys=True))


@task(name="register")
def register_specialist(task_id: str, model_uri: str, agreement: float, tags: dict[str, str],
                        cfg: RegistryConfig, tracking_uri: str) -> RegisteredVersion:
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri)
    name = model_name(cfg.model_prefix, task_id)
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(
            name, tags={"llm2slm.task_id": task_id},
            description=f"llm2slm specialist for discovered task {task_id}")
    version = mlflow.register_model(model_uri, name, tags={**tags, "agreement": f"{agreement:.4f}"})
    figures = {"agreement": round(agreement, 4), "threshold": cfg.champion_min_agreement}
    move_alias(client, name, "challenger", version.version, "new version from the convert flow", figures)
    aliases = ["challenger"]
    passed, reason = gate(agreement, cfg)
    if passed:
        move_alias(client, name, "champion", version.version, f"gate passed: {reason}", figures)
        aliases.append("champion")
    log.info("registered %s version %s (%s); gate: %s", name, version.version, ", ".join(aliases), reason)
    return RegisteredVersion(task_id=task_id, name=name, version=str(version.version), aliases=aliases,
                             gate_passed=passed, gate_reason=reason)
