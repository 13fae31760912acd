"""S1 → snapshot: the call store's records, read with the pipeline's curator identity, as the raw snapshot.

The keys are resolved inside the task (`pipeline_principal`: $LLM2SLM_API_KEY, or the local pipeline key under the
run's home), so no secret is ever a task parameter.
"""

from __future__ import annotations

from datetime import datetime

from prefect import task

from llm2slm.capture import open_store, pipeline_principal
from llm2slm.capture.export import SnapshotInfo, export_records
from llm2slm.common.artifacts import Artifacts
from llm2slm.common.config import Config


@task(name="export")
def export(cfg: Config, since: datetime | None = None, until: datetime | None = None) -> SnapshotInfo:
    with open_store(cfg) as store:
        return export_records(store, pipeline_principal(cfg), Artifacts(cfg.paths).raw, since, until)
