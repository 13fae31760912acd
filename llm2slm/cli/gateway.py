"""`llm2slm gateway`: serve the OpenAI-compatible capture gateway (see docs/capture.md).

FastAPI/Starlette, uvicorn, httpx and the store are imported only when the command runs.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Optional

import typer

from llm2slm.cli.common import USAGE, HomeOpt, ProjectOpt, fail, fail_invalid, setup
from llm2slm.common.config import Config, GatewayConfig

log = logging.getLogger("llm2slm.capture.gateway")


def gateway(
    host: Annotated[Optional[str], typer.Option(help="Address to listen on (default gateway.host, 127.0.0.1).")]
    = None,
    port: Annotated[Optional[int], typer.Option(help="Port to listen on (default gateway.port).")] = None,
    upstream: Annotated[Optional[str], typer.Option(
        help="Base URL of the upstream OpenAI-compatible API, e.g. https://api.openai.com/v1 "
             "(default gateway.upstream_base_url).")] = None,
    project: ProjectOpt = None,
    home: HomeOpt = None,
) -> None:
    """Serve POST /v1/chat/completions: answer each call with its task's champion specialist where its route is
    on (docs/serving.md), else forward it to the upstream LLM; record every call in the store.

    Agents authenticate with an API key of role `agent`; /healthz and /metrics (Prometheus) are open."""
    from pydantic import ValidationError

    cfg = setup(project, home)
    updates: dict[str, Any] = {k: v for k, v in (("host", host), ("port", port), ("upstream_base_url", upstream))
                               if v is not None}
    try:
        settings = GatewayConfig.model_validate({**cfg.gateway.model_dump(), **updates})
    except ValidationError as exc:
        fail_invalid("gateway option", exc, USAGE)
    serve(cfg, settings)


def _open_parts(cfg: Config) -> tuple[Any, Any]:
    """(store, key ring) of the configuration, or exit naming what is missing."""
    from llm2slm.capture.keys import Role
    from llm2slm.capture import open_keyring, open_store

    try:
        store, keyring = open_store(cfg), open_keyring(cfg)
    except (ValueError, OSError) as exc:
        fail(f"cannot open the call store or the key ring: {exc}", USAGE)
    if not keyring.has_active(Role.AGENT):
        log.warning("the key ring %s holds no active agent key: every call will be refused (401) until one is "
                    "created", keyring.path)
    return store, keyring


def serve(cfg: Config, settings: GatewayConfig) -> None:
    """Run the gateway in this process until SIGINT or SIGTERM (uvicorn drains open requests for up to 10 s)."""
    import sys

    import uvicorn

    # the writer thread encodes and encrypts records holding the GIL; a 1 ms switch interval (default 5 ms) bounds
    # how long the event loop waits for it after each socket call
    sys.setswitchinterval(0.001)

    from llm2slm.capture.gateway import create_app, upstream_key_from_env
    from llm2slm.capture.writer import RecordWriter

    store, keyring = _open_parts(cfg)
    writer = RecordWriter(store, settings.queue_size, settings.batch_size, settings.commit_linger_ms)
    from llm2slm.serving.build import build_router

    router = build_router(cfg)
    app = create_app(settings, keyring, writer, upstream_key_from_env(settings), router=router)
    log.info("gateway on http://%s:%d -> %s, store %s", settings.host, settings.port, settings.upstream_base_url,
             cfg.paths.store)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", access_log=False,
                timeout_keep_alive=int(settings.keep_alive_s), timeout_graceful_shutdown=10)


def add_gateway_command(app: typer.Typer) -> None:
    app.command("gateway")(gateway)
