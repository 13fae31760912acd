"""Stage: export the call store's records of a time window as the raw snapshot (Parquet).

The store is read as the pipeline's curator (`pipeline_principal`: $LLM2SLM_API_KEY, or the local pipeline key
created under the run's home); the keys are resolved inside the task, so no secret is ever a task parameter.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from prefect import task

from llm2slm.capture.export import SnapshotInfo, export_records
from llm2slm.common.config import Config
from llm2slm.capture import open_store, pipeline_principal

__all__ = ["SnapshotInfo", "export_records", "export_snapshot"]


@task(name="export")
def export_snapshot(cfg: Config, out: Path, since: datetime | None = None,
                    until: datetime | None = None) -> SnapshotInfo:
    """The pipeline's export: the configured store, read with the pipeline's curator identity."""
    return export_records(open_store(cfg), pipeline_principal(cfg), out, since, until)
