"""The retrain flow's window: S1 the manifest of the calls since the last run's watermark, S2 those calls curated,
S3 each placed in a known task (or `none`) by the saved assigner. Files under `<data>/window/` (the catalogue's
window_* entries), owner-only where they hold (scrubbed) call text; the datasets themselves are only changed by
`tasks.merge`."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from prefect import task

from llm2slm.capture import open_store, pipeline_principal
from llm2slm.capture.export import EmptyWindowError, export_manifest, read_manifest, read_manifest_window
from llm2slm.common.artifacts import Artifacts
from llm2slm.common.config import Config
from llm2slm.common.files import private_dir
from llm2slm.common.snapshot import read_snapshot, write_snapshot
from llm2slm.curation.audit import CurateAudit
from llm2slm.curation.pipeline import curate_records
from llm2slm.discovery.assigner import load_assigner
from llm2slm.discovery.catalogue import write_assignments
from llm2slm.retraining.report import Window
from llm2slm.retraining.state import read_state, window_start

log = logging.getLogger("llm2slm.retrain")


def converted_until(cfg: Config) -> datetime | None:
    """The last call of the last conversion's window (its export manifest), or None without one."""
    path = Artifacts(cfg.paths).raw_manifest
    return read_manifest(path).last if path.is_file() else None


@task(name="export-window")
def export_window(cfg: Config) -> Window:
    """The manifest of the calls with watermark <= timestamp < now - retrain.settle_s; `n_calls` 0 when none."""
    art = Artifacts(cfg.paths)
    if not art.assigner_index.is_file():
        raise FileNotFoundError(f"no assigner at {art.assigner_index}: run the convert flow (`llm2slm demo` or "
                                "`llm2slm convert`) before the first retrain")
    since = window_start(read_state(art.retrain_state), converted_until(cfg))
    until = datetime.now(timezone.utc) - timedelta(seconds=cfg.retrain.settle_s)
    private_dir(art.window_manifest.parent)
    art.window_manifest.unlink(missing_ok=True)  # a stale manifest must never be curated as this window
    with open_store(cfg) as store:
        try:
            manifest = export_manifest(store, pipeline_principal(cfg), art.window_manifest, since, until)
        except EmptyWindowError:
            log.info("no call since the watermark %s", since.isoformat() if since else "(store start)")
            return Window(since=since, until=until)
    return Window(since=since, until=until, n_calls=manifest.n_calls)


@task(name="curate-window")
def curate_window(cfg: Config) -> CurateAudit:
    art = Artifacts(cfg.paths)
    manifest = read_manifest(art.window_manifest)
    with open_store(cfg) as store:
        records = read_manifest_window(store, pipeline_principal(cfg), manifest, art.window_manifest)
    curated = curate_records(records, cfg.curate)
    write_snapshot(curated.records, art.window_curated)
    audit = curated.audit
    log.info("window curated %d -> %d calls; removed %s", audit.n_in, audit.n_out, audit.removed)
    return audit


@task(name="assign-window")
def assign_window(cfg: Config) -> dict[str, int]:
    """Each window call's task by the saved assigner (structure first, then embeddings); returns calls per task."""
    art = Artifacts(cfg.paths)
    records = read_snapshot(art.window_curated)
    placed = load_assigner(art.assigner_arrays).assign(records, progress=True, by_structure=True)
    write_assignments([r.id for r in records], [t for t, _ in placed], [c for _, c in placed],
                      art.window_assignments)
    counts: dict[str, int] = {}
    for task_id, _ in placed:
        counts[task_id] = counts.get(task_id, 0) + 1
    log.info("window placed by the saved assigner: %s", dict(sorted(counts.items())))
    return dict(sorted(counts.items()))
