"""The demo's last step: the later calls of the trace replayed through the gateway with the champions serving.

After the conversion on the earlier calls, each task with a champion is set to route `on` (as the release role
would), a gateway is started on 127.0.0.1 with the router and the demo's store, in front of a fake upstream that
answers each replayed request with the answer the LLM gave when it was captured, and the held-back calls are sent
through it as the agent sent them (raw: personal data included) by 16 concurrent clients. The table says, per task
and overall, the share of calls the specialists answered and their agreement with the LLM's recorded answers.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

import typer

from llm2slm.cli.common import print_table, table, text_cells
from llm2slm.common.artifacts import Artifacts
from llm2slm.common.config import Config, GatewayConfig
from llm2slm.common.files import atomic_write_text

if TYPE_CHECKING:
    from llm2slm.registry.outcomes import ConversionSummary
    from llm2slm.serving.replay import ReplayRow

log = logging.getLogger("llm2slm.replay")
COLUMNS = ("task", "calls", "by specialist", "share", "agreement", "fallbacks", "LLM failed")
CLIENTS = 16  # concurrent agent connections during the replay
TARGET_SHARE, TARGET_AGREEMENT = 0.70, 0.98  # the bundled trace's target: share of all calls, agreement on them


def routes_on(cfg: Config, summary: "ConversionSummary") -> list[str]:
    """Set route `on` for every task whose specialist became champion; the tasks set."""
    from llm2slm.registry.routing import set_route
    from llm2slm.registry.versions import registry_client

    client = registry_client(cfg.mlflow_tracking_uri)
    tasks = []
    for outcome in summary.outcomes:
        if outcome.model_name and "champion" in outcome.aliases:
            set_route(client, outcome.model_name, "on", 1.0, by="demo", why="demo: the champion serves the replay")
            tasks.append(outcome.task_id)
    return tasks


def replay_later_calls(cfg: Config, summary: "ConversionSummary", lines: list[str]) -> list["ReplayRow"]:
    from llm2slm.capture import open_keyring, open_store
    from llm2slm.capture.keys import split_token
    from llm2slm.capture.gateway import create_app
    from llm2slm.capture.keys import Role
    from llm2slm.capture.writer import RecordWriter
    from llm2slm.serving.build import build_router
    from llm2slm.serving.replay import replay_calls, replay_table
    from llm2slm.testing.fake_llm import FakeLLM, ServerThread, free_port, recorded_answers

    from llm2slm.common.schema import CallRecord

    records = [CallRecord.model_validate_json(line) for line in lines]
    tasks = routes_on(cfg, summary)
    typer.echo(f"\nreplay: routes on for {', '.join(tasks) or 'no task'}; {len(records)} later calls through the "
               f"gateway ({CLIENTS} clients), the upstream answering with each call's recorded LLM answer")
    upstream = ServerThread(FakeLLM(keep_bodies=False, recorded=recorded_answers(records)), free_port()).start()
    router = build_router(cfg, replica="demo-replay")
    if router is not None:
        router.table.refresh()  # load the champions before the first call
    keyring = open_keyring(cfg)
    key = keyring.create("demo-replay", Role.AGENT)
    settings = GatewayConfig.model_validate({**cfg.gateway.model_dump(), "upstream_base_url": upstream.url + "/v1"})
    with open_store(cfg) as store:
        writer = RecordWriter(store, settings.queue_size, settings.batch_size, settings.commit_linger_ms)
        gateway = ServerThread(create_app(settings, keyring, writer, None, router=router), free_port()).start()
        try:
            results = _with_progress(lambda tick: replay_calls(gateway.url, key, records, CLIENTS, tick),
                                     len(records))
        finally:
            gateway.stop()
            upstream.stop()
            keyring.revoke(split_token(key)[0])  # the replay's key serves this replay only
    rows = replay_table(results)
    atomic_write_text(Artifacts(cfg.paths).replay_report,
                      json.dumps([r.model_dump() for r in rows], indent=1) + "\n")
    return rows


def _with_progress(run, total: int):
    from tqdm import tqdm

    with tqdm(total=total, desc="replay", unit="call", mininterval=2) as bar:
        return run(bar.update)


def print_replay(rows: list["ReplayRow"]) -> None:
    grid = table(*COLUMNS)
    for column in COLUMNS[1:]:
        grid.columns[COLUMNS.index(column)].justify = "right"
    for r in rows:
        grid.add_row(*text_cells(r.task, str(r.calls), str(r.by_specialist), f"{r.share:.1%}",
                                 "-" if r.agreement is None else f"{r.agreement:.1%}", str(r.fallbacks),
                                 str(r.errors)))
    print_table(grid)
    total = rows[-1]
    met = total.share >= TARGET_SHARE and (total.agreement or 0.0) >= TARGET_AGREEMENT
    typer.echo(f"specialists answered {total.share:.1%} of the replayed calls at {_pct(total.agreement)} agreement "
               f"with the LLM's recorded answers (target on the bundled trace: >= {TARGET_SHARE:.0%} at >= "
               f"{TARGET_AGREEMENT:.0%}: {'met' if met else 'not met'}); {total.unmeasured} of their answers were to "
               "calls the LLM had failed on (no answer to agree with); 'LLM failed': such calls the LLM failed again")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
