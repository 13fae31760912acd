"""Time the retrain flow (S6) on the bundled trace's retrain scenario (`llm2slm.sample.scenario`).

    .venv/bin/python benchmarks/retrain.py

In a fresh project folder with this repository's params.yaml: `llm2slm convert` on the scenario's first part
(bank-support and table-booking calls), then `llm2slm retrain` three times, each timed with the peak memory of its
process tree:
1. nothing new since the conversion (the cost of a quiet night);
2. one new task: the assistant-router calls arrive (an agent the conversion never saw), and are trained;
3. nothing new, with the store holding every call of the bundled trace (30,015) and the watermark after the last
   (the quiet night of a store this size: the export reads the whole store to find the window).
Writes the figures into docs/benchmarks.md (section "retrain").
"""

from __future__ import annotations

import gzip
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.demo import fresh_project, tree_rss  # noqa: E402
from benchmarks.table import load_note, write_section  # noqa: E402

CLI = str(Path(sys.executable).with_name("llm2slm"))
TARGET_S = 120  # the target for a retrain run with nothing new


def timed(args: list[str], project: Path) -> tuple[float, int, str]:
    """(wall seconds, peak bytes of the process tree, output) of one CLI command; exits when it fails."""
    import threading
    import time

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started = time.perf_counter()
    proc = subprocess.Popen([CLI, *args, "--project", str(project)], cwd=project, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    peak = [0]

    def watch() -> None:
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss(root))
            time.sleep(0.5)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    output = proc.communicate()[0]
    wall = time.perf_counter() - started
    watcher.join(timeout=2)
    print(f"$ llm2slm {' '.join(args)}: {wall:.0f} s\n{output[-3000:]}", flush=True)
    if proc.returncode != 0:
        sys.exit(f"llm2slm {' '.join(args)} failed ({proc.returncode})")
    return wall, peak[0], output


def write_jsonl(records, path: Path) -> Path:
    path.write_text("".join(r.model_dump_json(exclude_none=True) + "\n" for r in records), encoding="utf-8")
    return path


def arriving_after_watermark(records, project: Path):
    """The records stamped as live traffic arriving just after the watermark, 1 ms apart in their order: the quiet
    run before moved the watermark to its own start (less `retrain.settle_s`), and the trace's stamps lie before."""
    from datetime import timedelta

    from llm2slm.common.artifacts import Artifacts
    from llm2slm.common.config import load_config
    from llm2slm.retraining.state import NEXT, read_state

    start = read_state(Artifacts(load_config(project).paths).retrain_state).watermark + NEXT
    return [r.model_copy(update={"timestamp": start + timedelta(milliseconds=i)}) for i, r in enumerate(records)]


def whole_trace_after(project: Path) -> None:
    """The rest of the bundled trace into the store, and the watermark moved after its last call (as if earlier
    runs had read it)."""
    from llm2slm.common.artifacts import Artifacts
    from llm2slm.common.config import load_config
    from llm2slm.retraining.state import NEXT, read_state, write_state
    from llm2slm.sample import bundled_trace_path

    trace = project / "whole.jsonl"
    with gzip.open(bundled_trace_path(), "rt", encoding="utf-8") as fh:
        lines = [line for line in fh if line.strip()]
    trace.write_text("".join(lines), encoding="utf-8")
    timed(["ingest", str(trace)], project)
    art = Artifacts(load_config(project).paths)
    state = read_state(art.retrain_state)
    from datetime import datetime

    state.watermark = max(datetime.fromisoformat(json.loads(line)["timestamp"].replace("Z", "+00:00"))
                          for line in lines) + NEXT
    write_state(art.retrain_state, state)


def last_report(project: Path) -> dict:
    from llm2slm.common.artifacts import Artifacts
    from llm2slm.common.config import load_config

    folder = Artifacts(load_config(project).paths).retrain_reports
    newest = max(folder.glob("*/report.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(newest.read_text())


def main() -> None:
    from llm2slm.sample.scenario import retrain_scenario

    scenario = retrain_scenario()
    project = fresh_project(Path(tempfile.mkdtemp(prefix="llm2slm-retrain-")))
    rows = []
    try:
        timed(["ingest", str(write_jsonl(scenario.first, project / "first.jsonl"))], project)
        convert_s, convert_peak, _ = timed(["convert"], project)
        quiet_s, quiet_peak, _ = timed(["retrain"], project)
        arriving = arriving_after_watermark(scenario.later["new_task"], project)
        timed(["ingest", str(write_jsonl(arriving, project / "new.jsonl"))], project)
        new_s, new_peak, _ = timed(["retrain"], project)
        new_report = last_report(project)
        if not new_report["decisions"]:  # the calls fell before the watermark: the row would time an empty run
            sys.exit(f"the new-task run saw no calls (window {new_report['window']}): nothing to report")
        whole_trace_after(project)
        whole_s, whole_peak, _ = timed(["retrain"], project)
    finally:
        shutil.rmtree(project, ignore_errors=True)
    load = os.getloadavg()[0]
    decisions = "; ".join(f"{d['task_id']} {d['action']}" for d in new_report["decisions"])
    trained = "; ".join(f"{o['task_id']}: {o['decision']}, agreement {o['agreement']}, version {o['version']}"
                        for o in new_report["outcomes"])
    rows = [("convert on the first part (600 calls, 2 tasks)", convert_s, convert_peak, "-"),
            ("retrain, nothing new (600 calls in the store)", quiet_s, quiet_peak,
             "met" if quiet_s < TARGET_S else "missed"),
            (f"retrain, one new task ({len(scenario.later['new_task'])} assistant-router calls)", new_s, new_peak,
             "-"),
            ("retrain, nothing new (30,615 calls in the store)", whole_s, whole_peak,
             "met" if whole_s < TARGET_S else "missed")]
    machine = f"{psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, {platform.machine()}, no GPU"
    table = "\n".join(f"| {name} | {wall:.0f} s | {peak / 2**30:.2f} GiB | {verdict} |" for name, wall, peak, verdict
                      in rows)
    body = (f"`benchmarks/retrain.py`: the CLI in a fresh project with this repository's params.yaml, on {machine}; "
            f"load average {load:.2f} at the end ({load_note(load)}). Target: a retrain with nothing new under "
            f"{TARGET_S} s.\n\n| run | wall time | peak memory (process tree) | target |\n|---|---:|---:|---|\n"
            f"{table}\n\nThe run with the new task decided: {decisions}; trained: {trained}.\n")
    write_section(REPO / "docs" / "benchmarks.md", "retrain", body)
    print(body)


if __name__ == "__main__":
    main()
