"""API keys with roles, stored hashed in one JSON file.

A token reads `l2s_<key id>_<secret>`: the key id (12 hex characters) finds the entry, the secret (32 random bytes,
URL-safe base64) is checked against its SHA-256 with a constant-time compare. The secret carries 256 bits of
entropy, so a fast hash is enough (no password stretching) and `authenticate` costs microseconds; the file holds
no token, only key ids, names, roles and hashes.

Roles: `agent` sends calls through the gateway, `curator` reads records for the pipeline, `admin` manages keys,
`release` changes where a task's calls are routed (`llm2slm route`; an admin key may too).
A missing, malformed, unknown or revoked key is a 401; a valid key of the wrong role is a 403.

The file is re-read whenever it changes on disk (size, mtime or inode), so a key created or revoked by the CLI
takes effect in a running gateway at its next request. Writers take an exclusive lock on `<file>.lock` and replace
the file atomically (0600).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any

from llm2slm.common.files import PRIVATE_DIR, PRIVATE_FILE, atomic_write_bytes, locked

TOKEN_PREFIX = "l2s"
KEY_ID_HEX = 12  # characters of the key id
SECRET_BYTES = 32  # random bytes of the secret
FORMAT = 1


class Role(str, Enum):
    AGENT = "agent"
    CURATOR = "curator"
    ADMIN = "admin"
    RELEASE = "release"


@dataclass(frozen=True)
class Principal:
    key_id: str
    name: str
    role: Role


@dataclass(frozen=True)
class KeyInfo:
    """What `list` shows of a key: never its secret or hash."""

    key_id: str
    name: str
    role: Role
    created: str
    revoked: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked is None


class AuthError(Exception):
    """A request's key was refused: `status` 401 (no valid key) or 403 (valid key, wrong role)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class KeyNotFound(ValueError):
    """No key with that id in the keyring."""


@dataclass(frozen=True)
class _Entry:
    info: KeyInfo
    digest: bytes  # SHA-256 of the secret


def _hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def split_token(token: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed token, else None."""
    parts = token.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or len(parts[1]) != KEY_ID_HEX or not parts[2]:
        return None
    return parts[1], parts[2]


class KeyRing:
    """The API keys of one deployment, in a JSON file of hashed keys. Thread-safe."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._entries: dict[str, _Entry] = {}

    # ---- reading ----
    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _load(self) -> dict[str, _Entry]:
        """The entries as on disk now, re-parsed only when the file changed."""
        stamp = self._file_stamp()
        with self._lock:
            if stamp == self._stamp:
                return self._entries
            entries = _parse(self.path) if stamp is not None else {}
            self._entries, self._stamp = entries, stamp
            return entries

    def list(self) -> list[KeyInfo]:
        return sorted((e.info for e in self._load().values()), key=lambda i: (i.created, i.key_id))

    def has_active(self, role: Role) -> bool:
        return any(e.info.active and e.info.role == role for e in self._load().values())

    def authenticate(self, token: str | None) -> Principal:
        if not token or not token.strip():
            raise AuthError(401, "missing API key")
        parts = split_token(token)
        if parts is None:
            raise AuthError(401, f"malformed API key: expected {TOKEN_PREFIX}_<key id>_<secret>")
        key_id, secret = parts
        entry = self._load().get(key_id)
        if entry is None or not hmac.compare_digest(entry.digest, _hash_secret(secret)):
            raise AuthError(401, f"unknown API key {key_id}")
        if entry.info.revoked is not None:
            raise AuthError(401, f"API key {key_id} ({entry.info.name}) was revoked on {entry.info.revoked}")
        return Principal(key_id=key_id, name=entry.info.name, role=entry.info.role)

    def require(self, token: str | None, *roles: Role) -> Principal:
        principal = self.authenticate(token)
        check_role(principal, *roles)
        return principal

    # ---- writing ----
    def create(self, name: str, role: Role) -> str:
        """Add a key; returns its token, which is shown this once and stored only as a hash."""
        name = name.strip()
        if not name:
            raise ValueError("a key needs a non-empty name")
        role = Role(role)
        key_id = secrets.token_hex(KEY_ID_HEX // 2)
        secret = base64.urlsafe_b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii").rstrip("=")
        with self._write() as raw:
            raw["keys"].append({"key_id": key_id, "name": name, "role": role.value, "created": _now(),
                                "revoked": None, "sha256": _hash_secret(secret).hex()})
        return f"{TOKEN_PREFIX}_{key_id}_{secret}"

    def revoke(self, key_id: str) -> None:
        """Mark a key revoked (kept in the file for the record); revoking twice is harmless."""
        with self._write() as raw:
            for item in raw["keys"]:
                if item["key_id"] == key_id:
                    item["revoked"] = item.get("revoked") or _now()
                    return
            raise KeyNotFound(f"no API key with id {key_id!r} in {self.path}")

    @contextmanager
    def _write(self) -> Iterator[dict[str, Any]]:
        """Lock, read the file as it is on disk, let the caller change it, write it back atomically (0600)."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
        with locked(self.path.with_name(self.path.name + ".lock")):
            raw = _read_raw(self.path) if self.path.exists() else {"format": FORMAT, "keys": []}
            yield raw
            atomic_write_bytes(self.path, (json.dumps(raw, indent=1) + "\n").encode(), mode=PRIVATE_FILE)
        with self._lock:
            self._stamp = None


def check_role(principal: Principal, *roles: Role) -> None:
    """AuthError(403) unless the principal holds one of `roles`."""
    if principal.role not in roles:
        wanted = " or ".join(r.value for r in roles)
        raise AuthError(403, f"API key {principal.key_id} ({principal.name}) has role {principal.role.value}; "
                             f"this needs the {wanted} role")


def _read_raw(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable keyring: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("format") != FORMAT or not isinstance(raw.get("keys"), list):
        raise ValueError(f"{path}: not a keyring of format {FORMAT}")
    return raw


def _parse(path: Path) -> dict[str, _Entry]:
    entries: dict[str, _Entry] = {}
    for item in _read_raw(path)["keys"]:
        info = KeyInfo(key_id=item["key_id"], name=item["name"], role=Role(item["role"]),
                       created=item["created"], revoked=item.get("revoked"))
        entries[info.key_id] = _Entry(info=info, digest=bytes.fromhex(item["sha256"]))
    return entries


def key_info_dict(info: KeyInfo) -> dict[str, Any]:
    data = asdict(info)
    data["role"] = info.role.value
    return data
