"""The artifact catalogue: every file a conversion reads or writes, named once, with where it lives.

A stage reads its inputs and writes its outputs through `Artifacts(cfg.paths)`: `art.curated` is the curated
snapshot's path, wherever the run's home is. `dvc.yaml` names the same files (a test keeps the two equal), and the
tracking task logs a stage's `logged` entries to MLflow (a missing one is an error, never a skip).

Roots: `data` (the DVC-versioned datasets, `paths.data_dir`), `store` (the encrypted call store, `paths.store`),
`home` (files under the run's home that DVC does not version: admin-only examples, reports, models).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from llm2slm.common.config import Paths

Root = Literal["data", "store", "home"]
DATA_STAGES = ("export", "curate", "cluster", "split")


@dataclass(frozen=True)
class Artifact:
    key: str
    path: str  # relative to the root
    root: Root = "data"
    stage: str | None = None  # the data stage that writes it (None: written outside the DVC stages)
    logged: bool = False  # the stage's MLflow run logs it as an artifact
    persist: bool = False  # DVC leaves it in place before a run (the stage reads it back)
    metric: bool = False  # a DVC metrics file (kept in git, not in the cache)
    folder: bool = False
    description: str = ""


ARTIFACTS: tuple[Artifact, ...] = (
    Artifact("store", "", root="store", folder=True, description="the encrypted call store (segments, envelope)"),
    Artifact("raw_manifest", "raw_manifest.json", stage="export",
             description="the exported window: counts, store segments read, a hash of the ids (no call text)"),
    Artifact("curated", "curated.parquet", stage="curate", description="scrubbed, filtered, de-duplicated calls"),
    Artifact("curate_audit", "curate_audit.json", stage="curate", logged=True, metric=True,
             description="counts per replaced type and per drop reason (no values)"),
    Artifact("task_catalogue", "catalogue.json", stage="cluster", logged=True, description="the discovered tasks"),
    Artifact("task_plot", "catalogue.png", stage="cluster", logged=True, description="calls coloured by task"),
    Artifact("task_report", "catalogue.html", stage="cluster", logged=True, description="the discovery report"),
    Artifact("assigner_arrays", "assigner.npz", stage="cluster", logged=True, description="task centroids"),
    Artifact("assigner_index", "assigner.json", stage="cluster", logged=True, description="task ids, thresholds"),
    Artifact("assignments", "assignments.parquet", stage="cluster", description="each call's task"),
    Artifact("task_registry", "task_registry.json", stage="cluster", logged=True, persist=True,
             description="keeps task ids stable from one run to the next"),
    Artifact("tasks", "tasks", stage="split", folder=True, description="train/val/test JSONL per task"),
    Artifact("window_manifest", "window/raw_manifest.json",
             description="the retrain flow's window: the calls since the last run's watermark (no call text)"),
    Artifact("window_curated", "window/curated.parquet", description="the window's calls, curated"),
    Artifact("window_assignments", "window/assignments.parquet",
             description="the window's calls placed by the saved assigner (before new tasks were found)"),
    Artifact("admin_examples", "admin/curate_examples.jsonl", root="home",
             description="before/after scrubbing examples, owner-only (0600)"),
    Artifact("models", "models", root="home", folder=True, description="fine-tuned specialists per task"),
    Artifact("serving_models", "serving/models", root="home", folder=True,
             description="registered versions the gateway downloaded to serve"),
    Artifact("reports", "runs/reports", root="home", folder=True, description="per-task evaluation reports"),
    Artifact("runs", "runs", root="home", folder=True, description="Ray Train storage: checkpoints, results"),
    Artifact("answer_cache", "runs/answer_cache", root="home", folder=True,
             description="champions' answers to test calls, per registered model, version and call id, so a "
                         "re-evaluation predicts only new calls; owner-only (0600 files, 0700 folders: scrubbed text)"),
    Artifact("route_log", "serving/route_log", root="home", folder=True,
             description="the gateway's routing events, one JSONL file per replica, owner-only (no call text)"),
    Artifact("stage_stamps", "runs/stages", root="home", folder=True,
             description="per data stage: the key of its last run and a digest of its outputs (llm2slm.lineage.resume)"),
    Artifact("stage_results", "runs/stage_results", root="home", folder=True,
             description="the data stages' results, kept by Prefect's cache under their keys, so a rerun reuses them"),
    Artifact("last_summary", "runs/last_summary.json", root="home", description="the last conversion's table"),
    Artifact("retrain_state", "runs/retrain/state.json", root="home",
             description="the retrain flow's watermark, trained task sizes and unfinished decisions (no call text)"),
    Artifact("retrain_reports", "runs/retrain/reports", root="home", folder=True,
             description="one retrain run report per run: report.md and report.json"),
    Artifact("replay_report", "runs/replay.json", root="home",
             description="the demo's replay through the gateway: share and agreement of the specialists per task"),
)
BY_KEY = {a.key: a for a in ARTIFACTS}

# what each data stage reads (its DVC deps besides params)
STAGE_INPUTS: dict[str, tuple[str, ...]] = {
    "export": ("store",),
    "curate": ("raw_manifest",),  # and the store itself, read with the pipeline's curator key
    "cluster": ("curated",),
    "split": ("curated", "assignments"),
}


class ArtifactError(KeyError):
    """An artifact the catalogue does not name, or a stage output that is missing."""

    def __str__(self) -> str:
        return str(self.args[0])


def stage_outputs(stage: str) -> list[Artifact]:
    if stage not in DATA_STAGES:
        raise ArtifactError(f"unknown stage {stage!r}: expected one of {', '.join(DATA_STAGES)}")
    return [a for a in ARTIFACTS if a.stage == stage]


class Artifacts:
    """The catalogue resolved against one run's paths: `art.curated`, `art.tasks / task_id`, `art.path("curated")`."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self._roots = {"data": paths.data_dir, "store": paths.store, "home": paths.home}

    def path(self, key: str) -> Path:
        try:
            artifact = BY_KEY[key]
        except KeyError:
            raise ArtifactError(f"the artifact catalogue names no {key!r}") from None
        root = self._roots[artifact.root]
        return root / artifact.path if artifact.path else root

    def __getattr__(self, key: str) -> Path:
        if key.startswith("_"):
            raise AttributeError(key)
        return self.path(key)

    def logged(self, stage: str) -> list[Path]:
        """The stage's outputs its MLflow run logs; raises ArtifactError naming any that is missing."""
        paths = [self.path(a.key) for a in stage_outputs(stage) if a.logged]
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise ArtifactError(f"stage {stage} did not write {', '.join(missing)}")
        return paths

    def model_dir(self, task_id: str, candidate: str) -> Path:
        return self.models / task_id / candidate

    def report_dir(self, task_id: str) -> Path:
        return self.reports / task_id
