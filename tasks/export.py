"""S1 → manifest: which of the call store's records the conversion reads, read with the pipeline's curator
identity. No call text leaves the store here: the manifest holds the window, counts, the segments read and a hash
of the record ids, and the curate stage reads the calls themselves from the store.

The keys are resolved inside the task (`pipeline_principal`: $LLM2SLM_API_KEY, or the local pipeline key under the
run's home), so no secret is ever a task parameter.
"""

from __future__ import annotations

from datetime import datetime

from prefect import task

from llm2slm.capture import open_store, pipeline_principal
from llm2slm.capture.export import ExportManifest, export_manifest
from llm2slm.common.artifacts import Artifacts
from llm2slm.common.config import Config


@task(name="export")
def export(cfg: Config, since: datetime | None = None, until: datetime | None = None) -> ExportManifest:
    with open_store(cfg) as store:
        return export_manifest(store, pipeline_principal(cfg), Artifacts(cfg.paths).raw_manifest, since, until)
