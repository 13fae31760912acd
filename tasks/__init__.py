"""The pipeline's Prefect tasks, one module per stage: each reads its inputs through the artifact catalogue
(`llm2slm.common.artifacts`), calls the core, and writes its outputs. `flows/` wires them.

`run_data_stage` runs one data stage outside a flow with the same task functions: what `llm2slm stage NAME`
(dvc.yaml's commands) calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llm2slm.common.config import Config


def run_data_stage(name: str, cfg: Config) -> str:
    """Run the data stage `name` (export, curate, cluster, split); returns a one-line summary."""
    from llm2slm.common.artifacts import DATA_STAGES

    if name not in DATA_STAGES:
        raise ValueError(f"unknown stage {name!r}: expected one of {', '.join(DATA_STAGES)}")
    if name == "export":
        from tasks.export import export

        from llm2slm.common.artifacts import Artifacts

        info = export.fn(cfg)
        return f"export: {info.n_calls} calls -> {Artifacts(cfg.paths).raw_manifest}"
    if name == "curate":
        from tasks.curate import curate

        audit = curate.fn(cfg)
        return f"curate: {audit.n_in} -> {audit.n_out} calls"
    if name == "cluster":
        from tasks.cluster import cluster

        found = cluster.fn(cfg)
        return f"cluster: {found.n_tasks} tasks, {found.n_outliers} outliers"
    from tasks.split import split

    return f"split: {len(split.fn(cfg))} tasks"
