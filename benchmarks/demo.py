"""Time the demo end to end and sample the peak memory of its whole process tree (Ray workers included).

    .venv/bin/python benchmarks/demo.py [--sample N]

Runs `llm2slm demo` in a fresh project folder (new store, stores and caches, as on a first run), then writes the figures into docs/benchmarks.md (section "demo").
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.table import write_section  # noqa: E402


def tree_rss(root: psutil.Process) -> int:
    """Resident bytes of a process and all its descendants."""
    total = 0
    for proc in [root, *root.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total


def fresh_project(folder: Path) -> Path:
    """A new git + DVC project holding only this repository's params.yaml and dvc.yaml."""
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    for name in ("params.yaml", "dvc.yaml", ".gitignore"):
        shutil.copy(REPO / name, folder / name)
    return folder


def run(sample: int | None, project: Path) -> tuple[float, int, str]:
    cmd = [str(Path(sys.executable).with_name("llm2slm")), "demo", "--project", str(project)]
    cmd += ["--sample", str(sample)] if sample else []
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = [0]

    def sample_memory() -> None:
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss(root))
            time.sleep(0.5)

    watcher = threading.Thread(target=sample_memory, daemon=True)
    watcher.start()
    output = proc.communicate()[0]
    wall = time.perf_counter() - started
    watcher.join(timeout=2)
    if proc.returncode != 0:
        sys.exit(f"demo failed ({proc.returncode}):\n{output[-4000:]}")
    return wall, peak[0], output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sample", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the temporary project folder")
    args = parser.parse_args()
    project = fresh_project(Path(tempfile.mkdtemp(prefix="llm2slm-demo-")))
    try:
        wall, peak, output = run(args.sample, project)
    finally:
        if not args.keep:
            shutil.rmtree(project, ignore_errors=True)
    print(output)
    ari = re.search(r"adjusted Rand index ([0-9.]+)", output)
    found = re.search(r"^calls: .*?(?=\n\ndatasets)", output, re.S | re.M)
    table = found.group(0) if found else ""
    replay = re.search(r"^task\s+calls\s+by specialist.*?^specialists answered[^\n]*", output, re.S | re.M)
    machine = f"{psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, {platform.machine()}, no GPU"
    body = (f"`llm2slm demo{' --sample ' + str(args.sample) if args.sample else ''}` in a fresh project folder, "
            f"on {machine}.\n\n| measure | value |\n|---|---|\n| wall time | {wall / 60:.1f} min ({wall:.0f} s) |\n"
            f"| peak memory, whole process tree | {peak / 2**30:.2f} GiB |\n"
            f"| adjusted Rand index (discovery vs answer key) | {ari.group(1) if ari else '-'} |\n\n"
            f"```\n{table.strip()}\n```\n")
    if replay:
        body += ("\nThe replay of the trace's latest 30% of calls through the gateway, the champions serving "
                 f"([serving.md](serving.md)):\n\n```\n{replay.group(0).strip()}\n```\n")
    write_section(REPO / "docs" / "benchmarks.md", f"demo{'-' + str(args.sample) if args.sample else ''}", body)
    print(f"wall {wall:.0f} s, peak {peak / 2**30:.2f} GiB -> docs/benchmarks.md")


if __name__ == "__main__":
    main()
