"""The gateway's router, built from the configuration: the assigner the cluster stage saved, the registry's routes,
one inference thread and the shadow queue. None when there is nothing to route with (no assigner yet)."""

from __future__ import annotations

import logging
import os

from llm2slm.common.artifacts import Artifacts
from llm2slm.common.config import Config
from llm2slm.serving.inference import InferenceWorker, ShadowQueue
from llm2slm.serving.placement import Placer
from llm2slm.serving.router import Router
from llm2slm.serving.routes import RouteTable

log = logging.getLogger("llm2slm.serving")


def build_router(cfg: Config, replica: str | None = None) -> Router | None:
    settings = cfg.route
    art = Artifacts(cfg.paths)
    if not settings.enabled:
        log.info("routing is off (route.enabled: false): every call goes to the LLM")
        return None
    stem = art.assigner_index.with_suffix("")
    if not art.assigner_index.exists():
        log.warning("no assigner at %s (run a conversion first): every call goes to the LLM", stem)
        return None
    worker = InferenceWorker(settings.max_batch)
    router = Router(Placer.load(stem), RouteTable(cfg.mlflow_tracking_uri, cfg.registry.model_prefix,
                                                  art.serving_models, settings.refresh_s),
                    worker, ShadowQueue(worker, settings.shadow_queue), settings.time_budget_ms / 1000.0)
    from llm2slm.serving.route_log import RouteLog

    router.route_log = RouteLog(art.route_log, replica or f"gateway-{os.getpid()}")
    return router
