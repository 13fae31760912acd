"""Durable files: the one atomic write of the project, directory fsync, an advisory lock.

Every output is written to a temporary name in its own folder and renamed over the target only when the write
succeeded, so a crash leaves the old file or the new one, never half of one. `mode` is the file's permission
(0o644 for ordinary datasets, 0o600 for files that hold secrets or captured text).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
PUBLIC_FILE = 0o644


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new file in `folder` durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: Path, mode: int = PUBLIC_FILE, durable: bool = False) -> Iterator[Path]:
    """A temporary path beside `path` for the block to write; it replaces `path` only if the block succeeds.
    `durable`: fsync the file and its folder (the store's keys and envelopes need it; datasets do not)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, mode)
        if durable:
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
        if durable:
            fsync_dir(path.parent)
    finally:
        Path(tmp).unlink(missing_ok=True)


def atomic_write_bytes(target: Path, data: bytes, mode: int = PUBLIC_FILE, durable: bool = True) -> None:
    """Write `data` to `target` atomically (fsynced by default)."""
    with atomic_path(target, mode, durable) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: Path, text: str, mode: int = PUBLIC_FILE, durable: bool = False) -> None:
    with atomic_path(target, mode, durable) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(target: Path, value: Any, mode: int = PUBLIC_FILE) -> None:
    """Sorted, indented JSON with a final newline, written atomically: the same value gives the same bytes."""
    atomic_write_text(target, json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n", mode)


def write_jsonl(target: Path, rows: list[dict], mode: int = PUBLIC_FILE) -> None:
    """One sorted-key JSON object per line, written atomically."""
    atomic_write_text(target, "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows), mode)


@contextmanager
def atomic_dir(path: Path, mode: int = 0o755) -> Iterator[Path]:
    """A staging folder beside `path`; it replaces `path` (a folder, given `mode`) only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield staging
        os.chmod(staging, mode)
        if path.exists():
            shutil.rmtree(path)
        staging.rename(path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def private_dir(path: Path) -> Path:
    """`path` created if needed and made readable by its owner only (0700)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, PRIVATE_DIR)
    return path


@contextmanager
def locked(path: Path, exclusive: bool = True) -> Iterator[None]:
    """Hold an flock on `path` (created if absent) for the block; shared when `exclusive` is False."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)
