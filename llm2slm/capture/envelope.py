"""The store's envelope file: every wrapped key of the store in one small JSON file.

    envelope.json = {"format": 1, "master_fingerprint": "...", "pseudonym_key": "<wrapped>",
                     "segments": {"seg-000001": "<wrapped data key>", ...}}

All wrapped keys live in this one file so that rotating the master key is a single atomic rename: a crash leaves
either the old envelope (every key under the old master key) or the new one (every key under the new), never a
mix. Segment files are never touched by rotation. Writers change the file only under the store lock.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from llm2slm.capture.crypto import KEY_BYTES, MasterKey, MasterKeyError
from llm2slm.common.files import PRIVATE_FILE, atomic_write_bytes

log = logging.getLogger("llm2slm.capture.envelope")
FORMAT = 1
PSEUDONYM_LABEL = "pseudonym-key"


class StoreFormatError(ValueError):
    """A store file is not in the format this llm2slm reads."""


@dataclass
class Envelope:
    master_fingerprint: str
    pseudonym_key: str
    segments: dict[str, str] = field(default_factory=dict)

    @classmethod
    def new(cls, master: MasterKey) -> "Envelope":
        return cls(master.fingerprint, master.wrap(os.urandom(KEY_BYTES), PSEUDONYM_LABEL))

    def check(self, master: MasterKey, path: Path) -> None:
        if master.fingerprint != self.master_fingerprint:
            origin = f" (from {master.origin})" if master.origin else ""
            raise MasterKeyError(
                f"wrong master key for the store at {path.parent}: the key given{origin} has fingerprint "
                f"{master.fingerprint}, the store was written under {self.master_fingerprint}")

    def pseudonym_secret(self, master: MasterKey) -> bytes:
        return master.unwrap(self.pseudonym_key, PSEUDONYM_LABEL)

    def data_key(self, master: MasterKey, segment: str) -> bytes:
        wrapped = self.segments.get(segment)
        if wrapped is None:
            raise StoreFormatError(f"segment {segment} has no data key in the envelope")
        return master.unwrap(wrapped, segment)

    def rewrapped(self, old: MasterKey, new: MasterKey) -> "Envelope":
        """The same keys wrapped under `new` (data keys themselves unchanged)."""
        return Envelope(
            master_fingerprint=new.fingerprint,
            pseudonym_key=new.wrap(self.pseudonym_secret(old), PSEUDONYM_LABEL),
            segments={name: new.wrap(self.data_key(old, name), name) for name in self.segments},
        )

    def to_bytes(self) -> bytes:
        body = {"format": FORMAT, "master_fingerprint": self.master_fingerprint,
                "pseudonym_key": self.pseudonym_key, "segments": self.segments}
        return (json.dumps(body, indent=1, sort_keys=True) + "\n").encode("utf-8")


def read_envelope(path: Path) -> Envelope | None:
    """The envelope at `path`, or None when the store has none yet."""
    try:
        raw = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as exc:
        raise StoreFormatError(f"{path}: unreadable envelope: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise StoreFormatError(f"{path}: not a store envelope of format {FORMAT}")
    try:
        return Envelope(raw["master_fingerprint"], raw["pseudonym_key"], dict(raw["segments"]))
    except (KeyError, TypeError) as exc:
        raise StoreFormatError(f"{path}: envelope is missing {exc}") from exc


def write_envelope(path: Path, envelope: Envelope) -> None:
    atomic_write_bytes(path, envelope.to_bytes(), mode=PRIVATE_FILE)
