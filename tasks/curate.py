"""S2: the calls the export manifest names, read from the encrypted store with the pipeline's curator identity;
the curated snapshot (0600 in a 0700 folder), its audit (counts only, never values) and the admin-only
before/after examples out (docs/curation.md). The method is `llm2slm.curation.pipeline`."""

from __future__ import annotations

import logging

from prefect import task

from llm2slm.capture import open_store, pipeline_principal
from llm2slm.capture.export import read_manifest, read_manifest_window
from llm2slm.common.artifacts import Artifacts
from llm2slm.common.config import Config
from llm2slm.common.files import private_dir, write_json
from llm2slm.common.schema import CallRecord
from llm2slm.common.snapshot import write_snapshot
from llm2slm.curation.audit import CurateAudit, write_admin_examples
from llm2slm.curation.pipeline import curate_records

log = logging.getLogger("llm2slm.curate")


def exported_calls(cfg: Config) -> list[CallRecord]:
    """The calls of the export manifest, from the store; WindowChangedError when the store no longer gives them."""
    path = Artifacts(cfg.paths).raw_manifest
    manifest = read_manifest(path)
    with open_store(cfg) as store:
        return read_manifest_window(store, pipeline_principal(cfg), manifest, path)


@task(name="curate")
def curate(cfg: Config) -> CurateAudit:
    art = Artifacts(cfg.paths)
    curated = curate_records(exported_calls(cfg), cfg.curate)
    private_dir(art.curated.parent)
    write_snapshot(curated.records, art.curated)
    write_json(art.curate_audit, curated.audit.model_dump())
    write_admin_examples(art.admin_examples, curated.examples)
    audit = curated.audit
    log.info("curated %d -> %d calls; removed %s; replaced %s", audit.n_in, audit.n_out, audit.removed,
             audit.replaced)
    return audit
