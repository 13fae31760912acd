"""Small conversion projects for the flow and platform tests: a git repository with the pipeline's dvc.yaml and
.gitignore, params.yaml trimmed to train in seconds, and a synthetic trace of encoder tasks in its store."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from llm2slm.capture import open_store
from llm2slm.common.config import load_config
from tests.discovery.synthetic import trace

COUNTS = {"triage": 150, "extract": 110, "tools": 80}  # calls per kind: two trained tasks, one kept on the LLM


def small_project(folder: Path, repo_root: Path, counts: dict[str, int] | None = None, any_gate: bool = False,
                  records: list | None = None, train_calls: int = 120, test_calls: int = 20) -> Path:
    """`folder` made a project of `counts` synthetic calls (COUNTS by default), or of `records` when given.
    `any_gate`: a promotion policy that every trained specialist passes, so each becomes its task's champion.
    train_calls, test_calls: calls per task fine-tuned on and evaluated on."""
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    shutil.copy(repo_root / "dvc.yaml", folder / "dvc.yaml")
    shutil.copy(repo_root / ".gitignore", folder / ".gitignore")
    params = yaml.safe_load((repo_root / "params.yaml").read_text())
    params["finetune"].update({"num_workers": 1, "epochs": 1, "max_train_calls": train_calls,
                               "checkpoint_every_steps": 0})
    params["evaluate"].update({"max_test_calls": test_calls, "latency_calls": 3})
    params["select"].update({"screen_calls": 10})
    if any_gate:
        params["registry"]["policy"] = str(_any_gate(folder, repo_root))
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    if records is None:
        records, _ = trace(counts or COUNTS, seed=1)
    with open_store(load_config(folder)) as store:
        store.append(records)
    return folder


def _any_gate(folder: Path, repo_root: Path) -> Path:
    """The repository's promotion policy with every threshold and minimum at 0 and a latency bound no run hits."""
    policy = yaml.safe_load((repo_root / "mlflow" / "promotion_policy.yaml").read_text())
    for rule in policy["metrics"].values():
        rule["threshold"] = 0.0
        if "non_majority_threshold" in rule:
            rule["non_majority_threshold"] = 0.0
        rule["minimums"] = {name: 0.0 for name in rule.get("minimums", {})}
    policy["latency_p95_ms"] = 100000  # milliseconds
    path = folder / "policy.yaml"
    path.write_text(yaml.safe_dump(policy))
    return path
