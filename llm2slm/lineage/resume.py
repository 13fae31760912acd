"""Resume: what a data stage's result depends on, as one key, and whether the files it wrote are still there.

A stage's key is the SHA-256 of its name, the configuration sections it reads, the bytes of its input files and
the source of the code that computes it (the stage's task module and the core packages it calls). Two runs with
the same key compute the same outputs, so a run killed after a stage, started again, reuses that stage's result
instead of redoing it (`tasks.stage.run_stage` keys Prefect's cache with it).

Reusing a result is only right while the stage's files on disk are the ones that result describes. After a stage
runs, its stamp (`<home>/runs/stages/<stage>.json`: the key and a digest of every output file) is written; a later
run reuses the result only when the stamp's key is the current key and the outputs still have the stamp's digest.
A stage another flow rewrote since (the retrain flow's merge rewrites the curated snapshot), or an output deleted
or edited by hand, makes the stage run again.

Not part of a key: the call store itself (the export manifest names the window's calls by a hash of their ids,
and stored calls never change), model weights named by the configuration (a new version of a named model under
the same name is not seen), and library versions.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from llm2slm.common.artifacts import STAGE_INPUTS, Artifacts, stage_outputs
from llm2slm.common.config import Config
from llm2slm.common.files import PRIVATE_FILE, private_dir, write_json

CODE_ROOT = Path(__file__).resolve().parents[2]  # the folder that holds llm2slm/ and tasks/
CHUNK_BYTES = 1 << 20  # files are hashed 1 MiB at a time


@dataclass(frozen=True)
class StageSpec:
    """What one data stage's result depends on besides its input files (the catalogue's STAGE_INPUTS): the
    configuration sections it reads and its code. Its outputs are the catalogue's (`stage_outputs`)."""

    name: str
    config: tuple[str, ...]
    code: tuple[str, ...]  # files and folders relative to CODE_ROOT

    @property
    def inputs(self) -> tuple[str, ...]:
        return STAGE_INPUTS[self.name]

    @property
    def outputs(self) -> tuple[str, ...]:
        return tuple(a.key for a in stage_outputs(self.name))


SHARED_CODE = ("llm2slm/common",)
STAGES: dict[str, StageSpec] = {
    "curate": StageSpec("curate", config=("curate",), code=("tasks/curate.py", "llm2slm/curation", "llm2slm/capture")),
    # the task registry is read and rewritten by the stage: an output, so the stamp checks it
    "cluster": StageSpec("cluster", config=("cluster", "select"), code=("tasks/cluster.py", "llm2slm/discovery")),
    "split": StageSpec("split", config=("split",), code=("tasks/split.py", "llm2slm/discovery/split.py")),
}


class UnknownStageError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def spec(stage: str) -> StageSpec:
    try:
        return STAGES[stage]
    except KeyError:
        raise UnknownStageError(f"no resumable stage {stage!r}: expected one of {', '.join(STAGES)}") from None


def _files(path: Path) -> list[Path]:
    """`path` itself when it is a file, every file under it (sorted) when it is a folder, [] when missing."""
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return []


def _digest_paths(digest, paths: list[Path], base: Path) -> None:
    """Feed each path's name relative to `base` and its bytes (a folder: each of its files) to `digest`."""
    for path in paths:
        for file in _files(path):
            digest.update(str(file.relative_to(base) if file.is_relative_to(base) else file.name).encode())
            with file.open("rb") as handle:
                while chunk := handle.read(CHUNK_BYTES):
                    digest.update(chunk)


def stage_key(cfg: Config, stage: str) -> str:
    """The stage's key: its name, configuration sections, input files and code, hashed together."""
    wanted, art = spec(stage), Artifacts(cfg.paths)
    digest = hashlib.sha256(stage.encode())
    sections = {name: getattr(cfg, name).model_dump(mode="json") for name in wanted.config}
    digest.update(json.dumps(sections, sort_keys=True).encode())
    missing = [key for key in wanted.inputs if not _files(art.path(key))]
    if missing:
        raise FileNotFoundError(f"stage {stage} cannot start: {', '.join(str(art.path(k)) for k in missing)} "
                                f"missing (run the stages before it)")
    _digest_paths(digest, [art.path(key) for key in wanted.inputs], cfg.paths.home)
    _digest_paths(digest, [CODE_ROOT / part for part in (*wanted.code, *SHARED_CODE)], CODE_ROOT)
    return digest.hexdigest()


def outputs_digest(cfg: Config, stage: str) -> str | None:
    """SHA-256 of the stage's output files as they are now; None when any of them is missing."""
    art = Artifacts(cfg.paths)
    paths = [art.path(key) for key in spec(stage).outputs]
    if any(not _files(path) for path in paths):
        return None
    digest = hashlib.sha256()
    _digest_paths(digest, paths, cfg.paths.home)
    return digest.hexdigest()


def stamp_path(cfg: Config, stage: str) -> Path:
    spec(stage)
    return Artifacts(cfg.paths).stage_stamps / f"{stage}.json"


def write_stamp(cfg: Config, stage: str, key: str) -> None:
    """Record that the stage's outputs on disk are those of the run with `key` (after the stage ran)."""
    outputs = outputs_digest(cfg, stage)
    if outputs is None:
        raise FileNotFoundError(f"stage {stage} finished without writing all of "
                                f"{', '.join(spec(stage).outputs)}")
    private_dir(Artifacts(cfg.paths).stage_stamps)
    write_json(stamp_path(cfg, stage), {"stage": stage, "key": key, "outputs": outputs}, PRIVATE_FILE)


def rerun_reason(cfg: Config, stage: str, key: str) -> str | None:
    """Why the stage's earlier result cannot be reused (None: it can): it never ran here, it last ran with other
    inputs, configuration or code, or its output files changed since (missing, edited, rewritten by another flow)."""
    try:
        stamp = json.loads(stamp_path(cfg, stage).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return "it has not run in this home before"
    if stamp.get("key") != key:
        return "its inputs, configuration or code changed since its last run"
    if stamp.get("outputs") != outputs_digest(cfg, stage):
        return "its outputs changed since its last run"
    return None


def outputs_intact(cfg: Config, stage: str, key: str) -> bool:
    """True when the stage last ran with `key` and its output files are still the ones it wrote."""
    return rerun_reason(cfg, stage, key) is None
