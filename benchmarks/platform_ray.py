"""The fixed cost of a Ray fine-tune on a two-node cluster against Ray started in process: the same small fine-tune
(the MiniLM classifier with LoRA on the sample's banking triage task, 2 workers, no checkpoints) once with Ray
started inside the driver (what a laptop run does) and once on a head and a worker node started with `ray start`
on this machine (`llm2slm.testing.ray_cluster`), joined by address as a `RAY_ADDRESS` run would be. Each runs in a
fresh Python process, so both pay the same imports.

`ray_rows()` returns one row per setting, of the columns in `HEADER`:

- Ray: the setting.
- Ray up (s): in process, `ray.init` in the driver; on the cluster, both `ray start` processes until the GCS counts
  two nodes alive and the driver is connected.
- workers on: how many distinct nodes the 2 workers ran on (Ray's node ids, recorded by the run).
- fine-tune (s): `fine_tune` end to end with Ray already up: reading rows, the storage check on every node (cluster
  only), starting the worker group (processes, imports, gloo process group), loading the model, training,
  saving and copying the specialist.
- training (s): inside the optimizer steps, all epochs.
- fixed cost (s): fine-tune minus training.

    .venv/bin/python benchmarks/platform_ray.py [--rows 160] [--epochs 2]

prints the table (benchmarks/platform_path.py puts these rows into docs/benchmarks.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

# `python benchmarks/<name>.py` puts benchmarks/ first on sys.path, where a script named like a standard module
# would shadow it: import from the project folder instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HEADER = ["Ray", "Ray up (s)", "workers on", "fine-tune (s)", "training (s)", "fixed cost (s)"]
SETTINGS = {"in-process": "in process (ray.init in the driver)",
            "two-nodes": "two-node cluster (ray start, joined by address)"}
WORKERS = 2  # Ray Train workers in both settings
SCENARIO_TIMEOUT_S = 900  # seconds one setting may take


def _fine_tune(work: Path, rows: int, epochs: int, ray_address: str | None) -> dict[str, float]:
    from benchmarks.sample_task import write_sample_task
    from llm2slm.training.catalogue import default_catalogue_path, find_candidate, load_catalogue
    from llm2slm.training.recipe import recipe_for, task_stats_from_dir
    from llm2slm.training.train import fine_tune

    write_sample_task("banking_triage", work / "task", limit=round(rows / 0.7))
    candidate = find_candidate(load_catalogue(default_catalogue_path()), "minilm-classifier")
    recipe = recipe_for(candidate, task_stats_from_dir(work / "task"), epochs=epochs, checkpoint_every_steps=0)
    result = fine_tune(recipe, work / "task", work / "model", num_workers=WORKERS, use_gpu=False,
                       storage_path=work / "runs", ray_address=ray_address, max_failures=0)
    return {"fine_tune_s": result.wall_seconds, "train_s": result.train_seconds,
            "nodes": float(len(set(result.attempt_nodes[0])))}


def scenario(name: str, work: Path, rows: int, epochs: int) -> dict[str, float]:
    """One setting, timed in this process: {ray_up_s, fine_tune_s, train_s, nodes}."""
    import ray

    from llm2slm.training.train import _ensure_ray

    started = time.perf_counter()
    if name == "in-process":
        temp = tempfile.mkdtemp(prefix="rb-", dir="/tmp")  # short: Ray's socket paths
        _ensure_ray(None, Path(temp))
        try:
            return {"ray_up_s": time.perf_counter() - started, **_fine_tune(work, rows, epochs, None)}
        finally:
            ray.shutdown()
            shutil.rmtree(temp, ignore_errors=True)
    from llm2slm.testing.ray_cluster import LocalRayCluster

    with LocalRayCluster(code_dir=ROOT) as cluster:
        cluster.add_node()
        ray.init(address=cluster.address, log_to_driver=False)
        try:
            cluster.wait_for_nodes()
            up = time.perf_counter() - started
            return {"ray_up_s": up, **_fine_tune(work, rows, epochs, cluster.address)}
        finally:
            ray.shutdown()


def _run_alone(name: str, rows: int, epochs: int) -> dict[str, float]:
    """`scenario(name)` in a fresh Python process; its figures."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--scenario", name, "--rows", str(rows),
           "--epochs", str(epochs)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=SCENARIO_TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the {name} setting failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def ray_rows(rows: int = 160, epochs: int = 2) -> list[list[str]]:
    """The table's rows (columns: `HEADER`), one per setting, each measured in its own process."""
    table = []
    for name, label in SETTINGS.items():
        r = _run_alone(name, rows, epochs)
        table.append([label, f"{r['ray_up_s']:.1f}", f"{r['nodes']:.0f} node(s)", f"{r['fine_tune_s']:.1f}",
                      f"{r['train_s']:.1f}", f"{r['fine_tune_s'] - r['train_s']:.1f}"])
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=160, help="training calls")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--scenario", choices=sorted(SETTINGS), help="run one setting here and print its JSON")
    args = parser.parse_args()
    from llm2slm.common.env import apply_quiet_offline_defaults

    apply_quiet_offline_defaults()
    if args.scenario:
        with tempfile.TemporaryDirectory(prefix="ray-bench-") as folder:
            figures = scenario(args.scenario, Path(folder), args.rows, args.epochs)
        print(json.dumps(figures))
        return
    rows = ray_rows(args.rows, args.epochs)
    print("| " + " | ".join(HEADER) + " |\n|" + "---|" * len(HEADER))
    print("\n".join("| " + " | ".join(row) + " |" for row in rows))
    print(f"load average (1, 5, 15 min): {', '.join(f'{a:.1f}' for a in os.getloadavg())}")


if __name__ == "__main__":
    main()
