"""Run one data stage outside the flow, with the same functions and paths: what dvc.yaml's commands call."""

from __future__ import annotations

from llm2slm.config import Config


def run_stage(name: str, cfg: Config) -> str:
    data = cfg.paths.data_dir
    if name == "export":
        from tasks.export import export_snapshot

        info = export_snapshot.fn(cfg, data / "raw.parquet")
        return f"export: {info.n_calls} calls -> {info.path}"
    if name == "curate":
        from llm2slm.curation.audit import admin_examples_path
        from tasks.curate import curate

        audit = curate.fn(data / "raw.parquet", data / "curated.parquet", data / "curate_audit.json", cfg.curate,
                          admin_examples_path(cfg.paths.home))
        return f"curate: {audit.n_in} -> {audit.n_out} calls"
    if name == "cluster":
        from tasks.cluster import discover_tasks

        found = discover_tasks.fn(data / "curated.parquet", data / "catalogue.json", data / "assignments.parquet",
                                  cfg.cluster)
        return f"cluster: {found.n_tasks} tasks, {found.n_outliers} outliers"
    if name == "split":
        from tasks.split import split_tasks

        parts = split_tasks.fn(data / "curated.parquet", data / "assignments.parquet", data / "tasks", cfg.split)
        return f"split: {len(parts)} tasks"
    raise ValueError(f"unknown stage {name!r}: expected one of export, curate, cluster, split")
