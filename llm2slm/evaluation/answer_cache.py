"""The answer cache: what a registered model version answered to each test call, kept so that re-evaluating the
champion on a later test split predicts only the calls it has not answered yet (a generator takes seconds a call).

One JSONL file per version, `<root>/<registered model>/<version>.jsonl`, one line per call id:
`{"id", "request", "answer"}`, where `request` is a digest of the scrubbed request the answer was given to (the
caller computes it), so a call whose scrubbed text changed since is not answered from the cache. A registered
version's model never changes, so nothing else invalidates an entry. The answers are scrubbed captured text: the
files are owner-only (0600) in owner-only folders (0700), and every write replaces the file atomically under a
lock, merged with what another writer added meanwhile.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from llm2slm.common.files import PRIVATE_FILE, locked, private_dir, write_jsonl

SAFE_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$")  # a registered model's name or a version: one file name


class CachedAnswer(NamedTuple):
    request: str  # digest of the scrubbed request the answer was given to
    answer: str


class AnswerCache:
    """The cache folder of one run's home (`Artifacts.answer_cache`)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def file(self, name: str, version: str) -> Path:
        """Where a version's answers are kept; refuses a name or version that is not one plain file name."""
        for part in (name, str(version)):
            if not SAFE_NAME.match(part):
                raise ValueError(f"not a registered model name or version the answer cache can hold: {part!r}")
        return self.root / name / f"{version}.jsonl"

    def read(self, name: str, version: str) -> dict[str, CachedAnswer]:
        """Call id -> cached answer of the version; {} when it answered none. A line that does not parse is left
        out (its call is predicted again)."""
        path = self.file(name, version)
        if not path.is_file():
            return {}
        found: dict[str, CachedAnswer] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
                found[str(entry["id"])] = CachedAnswer(str(entry["request"]), str(entry["answer"]))
            except (ValueError, KeyError, TypeError):
                continue
        return found

    def add(self, name: str, version: str, answers: Mapping[str, CachedAnswer]) -> None:
        """Keep `answers` (call id -> cached answer) with the version's others; a call id already kept is
        replaced."""
        if not answers:
            return
        path = self.file(name, version)
        private_dir(self.root)
        private_dir(path.parent)
        with locked(path.parent / f".{path.name}.lock"):
            merged = {**self.read(name, version), **answers}
            write_jsonl(path, [{"id": call, "request": kept.request, "answer": kept.answer}
                               for call, kept in sorted(merged.items())], PRIVATE_FILE)
