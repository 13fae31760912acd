"""Keys of the encrypted store: the master key, data keys wrapped under it, and keyed pseudonyms.

Envelope encryption: every segment has its own random 256-bit data key (AES-256-GCM); the data key is stored only
wrapped (AES-256-GCM encrypted) under the master key, with the segment's name as associated data so a wrapped key
cannot be moved to another segment. The master key never touches the store folder; its fingerprint (an HMAC of a
fixed label, which reveals nothing of the key) is recorded so a wrong key is named as such.

Pseudonyms: source ids are replaced by HMAC-SHA256(pseudonym key, field + value), truncated to 128 bits. The
pseudonym key is random, stored wrapped under the master key, and survives master-key rotation, so a user keeps the
same pseudonym across rotations; the same key (under a different label) tags record ids for the idempotency index.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # AES-GCM nonce
PSEUDONYM_BYTES = 16  # truncated HMAC-SHA256
ID_TAG_BYTES = 16  # keyed tag of a record id, stored in the frame header


class MasterKeyError(ValueError):
    """The master key is missing, malformed, or not the one the store was written with."""


@dataclass(frozen=True)
class MasterKey:
    """A 256-bit key-encryption key. `repr` never shows the key."""

    raw: bytes
    origin: str = field(default="", compare=False)  # where the key was read from, for error messages

    def __post_init__(self) -> None:
        if len(self.raw) != KEY_BYTES:
            raise MasterKeyError(f"a master key is {KEY_BYTES} bytes, got {len(self.raw)}")

    def __repr__(self) -> str:
        return f"MasterKey(fingerprint={self.fingerprint})"

    @classmethod
    def generate(cls) -> "MasterKey":
        return cls(os.urandom(KEY_BYTES))

    @classmethod
    def from_text(cls, text: str, where: str = "master key") -> "MasterKey":
        """Parse 32 bytes written as base64 (standard or URL-safe) or as 64 hex characters."""
        text = text.strip()
        raw: bytes | None = None
        if len(text) == 2 * KEY_BYTES:
            try:
                raw = bytes.fromhex(text)
            except ValueError:
                raw = None
        if raw is None:
            try:
                raw = base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4),
                                       validate=True)
            except (binascii.Error, ValueError):
                raw = b""
        if len(raw) != KEY_BYTES:
            raise MasterKeyError(f"{where}: expected {KEY_BYTES} random bytes as base64 or hex (e.g. the output of "
                                 "`openssl rand -base64 32`)")
        return cls(raw, origin=where)

    def to_text(self) -> str:
        return base64.b64encode(self.raw).decode("ascii")

    @property
    def fingerprint(self) -> str:
        return hmac.new(self.raw, b"llm2slm master key fingerprint", hashlib.sha256).hexdigest()[:16]

    def wrap(self, key: bytes, label: str) -> str:
        """`key` encrypted under the master key, bound to `label`; base64 text of nonce + ciphertext."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.raw).encrypt(nonce, key, label.encode("utf-8"))
        return base64.b64encode(nonce + sealed).decode("ascii")

    def unwrap(self, wrapped: str, label: str) -> bytes:
        blob = base64.b64decode(wrapped)
        try:
            return AESGCM(self.raw).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], label.encode("utf-8"))
        except InvalidTag as exc:
            raise MasterKeyError(f"the wrapped key {label!r} does not open with master key {self.fingerprint}") \
                from exc


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=8 * KEY_BYTES)


class Pseudonymizer:
    """Keyed, stable pseudonyms for source ids and keyed tags for record ids."""

    def __init__(self, key: bytes):
        self._source = hmac.new(key, b"llm2slm source pseudonym", hashlib.sha256).digest()
        self._ids = hmac.new(key, b"llm2slm record id tag", hashlib.sha256).digest()

    def pseudonym(self, kind: str, value: str) -> str:
        """`<kind>-<32 hex>` for a source id of that kind (agent, user, session)."""
        mac = hmac.digest(self._source, f"{kind}\x00{value}".encode("utf-8"), "sha256")
        return f"{kind}-{mac[:PSEUDONYM_BYTES].hex()}"

    def id_tag(self, record_id: str) -> bytes:
        return hmac.digest(self._ids, record_id.encode("utf-8"), "sha256")[:ID_TAG_BYTES]
