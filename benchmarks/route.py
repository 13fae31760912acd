"""Routing benchmark: the router's decision cost, the specialist-answered calls/s the gateway sustains, and the
proxy path's added latency, on this machine.

    .venv/bin/python benchmarks/route.py [--home .llm2slm] [--calls 3000]

Needs a converted home whose champions have live routes (what `make demo` leaves). Decision: placing the later
calls of the bundled trace (the demo's replayed part) with the home's assigner, structure gate then content test
(the specialist's inference excluded), timed per call in this process; the content test (an embedding) is also
timed on its own, for agents whose tasks structure alone cannot tell apart. Throughput: `llm2slm gateway` on the
home (its own process, router on, the fake upstream in another) answering the calls of the tasks with live
routes at 1, 16 and 64 concurrent clients. Proxy path: `benchmarks/capture.py`'s measure (no router). The table
goes to docs/benchmarks.md (section "route").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.capture import _cpu_seconds, _start, measure_latency  # noqa: E402
from benchmarks.table import write_section  # noqa: E402
from llm2slm.capture import open_keyring  # noqa: E402
from llm2slm.capture.keys import Role, split_token  # noqa: E402
from llm2slm.common.artifacts import Artifacts  # noqa: E402
from llm2slm.common.config import load_config  # noqa: E402
from llm2slm.common.schema import CallRecord  # noqa: E402
from llm2slm.common.stats import percentile  # noqa: E402
from llm2slm.sample import bundled_trace_path  # noqa: E402
from llm2slm.sample.ingest import split_by_time, subsample_lines  # noqa: E402
from llm2slm.serving.placement import Placer, request_record  # noqa: E402
from llm2slm.serving.replay import request_body  # noqa: E402
from llm2slm.testing.fake_llm import free_port  # noqa: E402

CONCURRENCY = (1, 16, 64)
REPLAY_SHARE = 0.3  # the demo's replayed part


def later_calls(limit: int) -> list[CallRecord]:
    _, later = split_by_time(subsample_lines(bundled_trace_path(), None), REPLAY_SHARE)
    return [CallRecord.model_validate_json(line) for line in later[:limit]]


def measure_decision(placer: Placer, records: list[CallRecord]) -> dict:
    tasks = set(placer.assigner.task_ids)
    times, by = [], {"structure": 0, "content": 0, "none": 0}
    for record in records:
        started = time.perf_counter()
        placement = placer.place(request_record(record.messages, record.tools), tasks)
        times.append((time.perf_counter() - started) * 1e3)
        by[placement.by] += 1
    content = []
    for record in records[:200]:
        started = time.perf_counter()
        placer.assigner.assign([request_record(record.messages, record.tools)])
        content.append((time.perf_counter() - started) * 1e3)
    return {"calls": len(records), "p50": percentile(times, 50), "p99": percentile(times, 99), "by": by,
            "content_p50": percentile(content[5:], 50), "content_p99": percentile(content[5:], 99)}


async def _send(url: str, token: str, bodies: list[bytes], concurrency: int) -> tuple[list[float], list[str], float]:
    import aiohttp

    latencies: list[float] = []
    routes: list[str] = []
    queue = list(reversed(bodies))
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def client() -> None:
            while queue:
                body = queue.pop()
                started = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    routes.append(response.headers.get("x-llm2slm-route", ""))
                latencies.append((time.perf_counter() - started) * 1e3)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies, routes, time.perf_counter() - started


def measure_throughput(home: Path, records: list[CallRecord], placer: Placer, live: set[str], n: int) -> list[dict]:
    cfg = load_config(REPO, home)
    keyring = open_keyring(cfg)
    token = keyring.create("bench-route", Role.AGENT)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    up_port, port = free_port(), free_port()
    upstream = _start([sys.executable, "-m", "llm2slm.testing.fake_llm", "--port", str(up_port)], env,
                      f"http://127.0.0.1:{up_port}/")
    gateway = _start([sys.executable, "-m", "llm2slm.cli", "gateway", "--home", str(home), "--port", str(port),
                      "--upstream", f"http://127.0.0.1:{up_port}/v1"], env, f"http://127.0.0.1:{port}/healthz")
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    placed = [(placer.place(request_record(r.messages, r.tools), live).task_id, r) for r in records]
    served = [request_body(r) for task, r in placed if task in live]
    others = [request_body(r) for task, r in placed if task not in live]
    rows = []
    try:
        _wait_routes(port, live)
        asyncio.run(_send(url, token, served[:64], 4))  # warm: the first batches allocate
        for concurrency in CONCURRENCY:
            bodies = (served * (1 + n // max(1, len(served))))[:n]
            cpu = _cpu_seconds(gateway.pid)
            latencies, routes, wall = asyncio.run(_send(url, token, bodies, concurrency))
            rows.append({"kind": "specialist tasks", "concurrency": concurrency, "calls": len(bodies),
                         "specialist": routes.count("specialist"), "wall_s": wall,
                         "p50": percentile(latencies, 50), "p99": percentile(latencies, 99),
                         "cpu_ms": (_cpu_seconds(gateway.pid) - cpu) / len(bodies) * 1e3})
            print(rows[-1], flush=True)
        if others:
            latencies, routes, wall = asyncio.run(_send(url, token, others[:500], 1))
            direct, _, _ = asyncio.run(_send(f"http://127.0.0.1:{up_port}/v1/chat/completions", "", others[:500], 1))
            rows.append({"kind": "LLM-kept task", "concurrency": 1, "calls": len(routes),
                         "added_p50": percentile(latencies, 50) - percentile(direct, 50),
                         "added_p99": percentile(latencies, 99) - percentile(direct, 99)})
            print(rows[-1], flush=True)
    finally:
        for process in (gateway, upstream):
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        keyring.revoke(split_token(token)[0])
    return rows


def _wait_routes(port: int, live: set[str], timeout_s: float = 180.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        routes = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json().get("routes", {})
        if live <= set(routes):
            return
        time.sleep(0.5)
    raise RuntimeError(f"the gateway did not load the routes of {sorted(live)} within {timeout_s} s")


def live_routes(home: Path) -> set[str]:
    from llm2slm.registry.routing import route_settings
    from llm2slm.registry.versions import registry_client

    cfg = load_config(REPO, home)
    settings = route_settings(registry_client(cfg.mlflow_tracking_uri), cfg.registry.model_prefix)
    return {task for task, s in settings.items() if s.mode in ("on", "canary") and s.champion}


def _table(decision: dict, throughput: list[dict], proxy: list[dict], loads: tuple) -> str:
    machine = f"{os.cpu_count()} cores, {platform.machine()}, no GPU"
    lines = [f"Measured {time.strftime('%Y-%m-%d')}. `benchmarks/route.py` on {machine}; load average (1/5/15 min) "
             f"{'/'.join(f'{x:.2f}' for x in loads[0])} before, {'/'.join(f'{x:.2f}' for x in loads[1])} after. "
             "Targets: decision p99 <= 10 ms; proxy path p50 <= 0.5 ms added at one client.", "",
             "| routing decision (structure gate + assigner, specialist excluded) | calls | p50 (ms) | p99 (ms) |",
             "|---|---|---|---|",
             f"| the demo's replayed calls, as placed ({json.dumps(decision['by'])}) | {decision['calls']:,} | "
             f"{decision['p50']:.3f} | {decision['p99']:.3f} |",
             f"| content test alone (one embedding per call), for tasks structure cannot decide | 195 | "
             f"{decision['content_p50']:.2f} | {decision['content_p99']:.2f} |", "",
             "| gateway with router, calls of tasks with live routes | clients | calls | answered by specialist | "
             "specialist calls/s | p50 / p99 (ms) | gateway CPU per call (ms) |", "|---|---|---|---|---|---|---|"]
    for r in (r for r in throughput if r["kind"] == "specialist tasks"):
        lines.append(f"| | {r['concurrency']} | {r['calls']:,} | {r['specialist']:,} | "
                     f"{r['specialist'] / r['wall_s']:.0f} | {r['p50']:.1f} / {r['p99']:.1f} | {r['cpu_ms']:.2f} |")
    lines += ["", "| proxy path, added latency at 1 client | p50 (ms) | p99 (ms) |", "|---|---|---|"]
    for r in (r for r in throughput if r["kind"] == "LLM-kept task"):
        lines.append(f"| gateway with router and live routes, a call of a task kept on the LLM | "
                     f"{r['added_p50']:.2f} | {r['added_p99']:.2f} |")
    for r in (r for r in proxy if r["concurrency"] == 1):
        lines.append(f"| gateway without live routes ({r['client']} upstream client; benchmarks/capture.py) | "
                     f"{r['added_p50']:.2f} | {r['added_p99']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, default=REPO / ".llm2slm")
    parser.add_argument("--calls", type=int, default=3000, help="calls timed for the decision")
    parser.add_argument("--requests", type=int, default=1500, help="requests per concurrency level")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = parser.parse_args()
    before = list(os.getloadavg())
    cfg = load_config(REPO, args.home)
    placer = Placer.load(Artifacts(cfg.paths).assigner_index.with_suffix(""))
    records = later_calls(args.calls)
    decision = measure_decision(placer, records)
    print("decision:", decision, flush=True)
    live = live_routes(args.home)
    if not live:
        raise SystemExit("no task has a live route in this home: run `make demo` first")
    throughput = measure_throughput(args.home, later_calls(10**6), placer, live, args.requests)
    proxy = measure_latency(1000, ("aiohttp",))
    body = _table(decision, throughput, proxy, (before, list(os.getloadavg())))
    write_section(args.out, "route", body)
    print(body)


if __name__ == "__main__":
    main()
