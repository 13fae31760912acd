"""S2: the raw snapshot in; the curated snapshot, its audit (counts only, never values) and the admin-only
before/after examples out (docs/curation.md). The method is `llm2slm.curation.pipeline`."""

from __future__ import annotations

import logging

from prefect import task

from llm2slm.common.artifacts import Artifacts
from llm2slm.common.config import Config
from llm2slm.common.files import write_json
from llm2slm.common.snapshot import read_snapshot, write_snapshot
from llm2slm.curation.audit import CurateAudit, write_admin_examples
from llm2slm.curation.pipeline import curate_records

log = logging.getLogger("llm2slm.curate")


@task(name="curate")
def curate(cfg: Config) -> CurateAudit:
    art = Artifacts(cfg.paths)
    curated = curate_records(read_snapshot(art.raw), cfg.curate)
    write_snapshot(curated.records, art.curated)
    write_json(art.curate_audit, curated.audit.model_dump())
    write_admin_examples(art.admin_examples, curated.examples)
    audit = curated.audit
    log.info("curated %d -> %d calls; removed %s; replaced %s", audit.n_in, audit.n_out, audit.removed,
             audit.replaced)
    return audit
