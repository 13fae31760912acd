"""Task datasets: each discovered task's calls as train/val/test JSONL (`<tasks>/<task_id>/{part}.jsonl`) plus
`<tasks>/index.json` with the counts; a call's part is a keyed hash of its id (`llm2slm.discovery.split`). The
folder is built under a temporary name and renamed into place; it holds (scrubbed) captured text, so every folder
in it is 0700 and every file 0600."""

from __future__ import annotations

import logging

from prefect import task

from llm2slm.common.artifacts import Artifacts
from llm2slm.common.config import Config
from llm2slm.common.files import PRIVATE_DIR, PRIVATE_FILE, atomic_dir, private_dir, write_json, write_jsonl
from llm2slm.common.snapshot import read_snapshot
from llm2slm.discovery.catalogue import read_assignments
from llm2slm.discovery.split import TaskSplit, split_counts, split_tasks

log = logging.getLogger("llm2slm.split")


@task(name="split")
def split(cfg: Config) -> list[TaskSplit]:
    art = Artifacts(cfg.paths)
    splits = split_tasks(read_snapshot(art.curated), read_assignments(art.assignments), cfg.split)
    counts = split_counts(splits)
    private_dir(art.tasks.parent)
    with atomic_dir(art.tasks, PRIVATE_DIR) as staging:
        for task_id, parts in splits.items():
            folder = private_dir(staging / task_id)
            for part, rows in parts.items():
                write_jsonl(folder / f"{part}.jsonl", rows, PRIVATE_FILE)
        write_json(staging / "index.json", [c.model_dump() for c in counts], PRIVATE_FILE)
    log.info("split %d tasks into %s", len(counts), art.tasks)
    return counts
