"""Encrypted segment files: a magic header, then one frame per call record.

    segment = MAGIC (8 bytes) frame*
    frame   = length (4 bytes, big-endian, bytes of ciphertext) | id tag (16) | nonce (12) | ciphertext (length)

The ciphertext is AES-256-GCM of the record's JSON under the segment's data key, with associated data binding the
segment name, the frame's number in the segment and the id tag: a frame moved, reordered or given another id tag
fails to decrypt. The id tag (a keyed HMAC of the record id, see crypto.Pseudonymizer) lets the idempotency index
be rebuilt without parsing records.

One writer owns a segment for its whole life and appends whole batches followed by one fsync; after a failed write
it truncates back to the last durable frame and never writes to that segment again. A crash can still leave a torn
tail. Reading (`iter_frames`) treats as a torn tail: an incomplete header, a frame whose length runs past the end of
the file, and an invalid frame that is the file's last or is followed only by zero bytes; these are skipped with one
WARNING naming the segment and offset. An invalid frame anywhere else raises CorruptSegmentError.
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from llm2slm.capture.crypto import ID_TAG_BYTES, NONCE_BYTES
from llm2slm.common.files import PRIVATE_FILE, atomic_write_bytes, fsync_dir

log = logging.getLogger("llm2slm.capture.segments")

MAGIC = b"L2SSEG1\n"
SUFFIX = ".seg"
INDEX_SUFFIX = ".idx"
INDEX_MAGIC = b"L2SIDX1\n"
HEADER = struct.Struct(f">I{ID_TAG_BYTES}s{NONCE_BYTES}s")
GCM_TAG_BYTES = 16
_warned: set[tuple[str, int]] = set()  # torn tails already reported by this process: (segment path, offset)


class CorruptSegmentError(ValueError):
    """A frame in the middle of a segment does not decrypt: the file was damaged or tampered with."""


@dataclass(frozen=True)
class Frame:
    number: int  # 0-based position in the segment
    offset: int  # byte offset of the frame header in the file
    end: int  # byte offset just past the frame
    id_tag: bytes
    plaintext: bytes


def _aad(segment: str, number: int, id_tag: bytes) -> bytes:
    return segment.encode("ascii") + b"\x00" + number.to_bytes(8, "big") + id_tag


class SegmentWriter:
    """Appends batches of frames to a new segment file; one instance per segment, never reopened."""

    def __init__(self, path: Path, data_key: bytes):
        self.path = Path(path)
        self.name = self.path.stem
        self._aes = AESGCM(data_key)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, PRIVATE_FILE)
        self.frames = 0
        self.size = 0
        self.tags: list[bytes] = []  # id tags of the durable frames, in order
        self.broken = False
        self._write_all(MAGIC)
        os.fsync(self._fd)
        fsync_dir(self.path.parent)
        self.size = len(MAGIC)

    def append(self, items: Sequence[tuple[bytes, bytes]]) -> None:
        """Encrypt (id tag, plaintext) pairs as frames, write them in one go and fsync: durable on return."""
        if self.broken:
            raise OSError(f"segment {self.name} is closed after a failed write")
        nonces = os.urandom(NONCE_BYTES * len(items))
        parts: list[bytes] = []
        for i, (id_tag, plaintext) in enumerate(items):
            nonce = nonces[i * NONCE_BYTES:(i + 1) * NONCE_BYTES]
            sealed = self._aes.encrypt(nonce, plaintext, _aad(self.name, self.frames + i, id_tag))
            parts.append(HEADER.pack(len(sealed), id_tag, nonce))
            parts.append(sealed)
        blob = b"".join(parts)
        try:
            self._write_all(blob)
            os.fsync(self._fd)
        except BaseException:
            self.broken = True
            try:
                os.ftruncate(self._fd, self.size)
                os.fsync(self._fd)
            except OSError:
                log.error("segment %s: could not truncate a failed write back to %d bytes", self.name, self.size)
            raise
        self.frames += len(items)
        self.size += len(blob)
        self.tags.extend(id_tag for id_tag, _ in items)

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def seal(self) -> None:
        """Close the segment for good and write its id index beside it (see `read_index`)."""
        self.close()
        if self.frames:
            write_index(self.path, self.size, self.tags)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - nothing to do at interpreter shutdown
            pass


def index_path(segment: Path) -> Path:
    return segment.with_suffix(INDEX_SUFFIX)


def write_index(segment: Path, size: int, tags: Sequence[bytes]) -> None:
    """`seg-N.idx`: magic, the segment's size and frame count when sealed (8 bytes each), then the id tags."""
    body = INDEX_MAGIC + size.to_bytes(8, "big") + len(tags).to_bytes(8, "big") + b"".join(tags)
    atomic_write_bytes(index_path(segment), body, mode=PRIVATE_FILE)


def read_index(segment: Path, size: int) -> list[bytes] | None:
    """The id tags of a sealed segment from its index, or None when there is none or it does not match `size`
    (then the caller decrypts the segment instead)."""
    try:
        body = index_path(segment).read_bytes()
    except FileNotFoundError:
        return None
    head = len(INDEX_MAGIC) + 16
    if len(body) < head or body[:len(INDEX_MAGIC)] != INDEX_MAGIC:
        return None
    sealed_size = int.from_bytes(body[len(INDEX_MAGIC):len(INDEX_MAGIC) + 8], "big")
    frames = int.from_bytes(body[len(INDEX_MAGIC) + 8:head], "big")
    if sealed_size != size or len(body) != head + frames * ID_TAG_BYTES:
        return None
    return [body[i:i + ID_TAG_BYTES] for i in range(head, len(body), ID_TAG_BYTES)]


def _torn(path: Path, offset: int, size: int, why: str) -> None:
    if (str(path), offset) not in _warned:
        _warned.add((str(path), offset))
        log.warning("segment %s: torn tail at byte offset %d (%d bytes to the end, %s): skipped; "
                    "the records before it are intact", path.name, offset, size - offset, why)


def iter_frames(path: Path, data_key: bytes, size: int, start: int = 0, first_number: int = 0) -> Iterator[Frame]:
    """Decrypted frames of the segment's first `size` bytes, from byte `start` (a frame boundary; 0 = the top,
    where the file header is checked) with frame number `first_number`."""
    with open(path, "rb") as handle:
        handle.seek(start)
        data = handle.read(max(0, size - start))
    end_of_data = start + len(data)
    if start == 0:
        if len(data) < len(MAGIC):
            if data:
                _torn(path, 0, len(data), "incomplete file header")
            return
        if data[:len(MAGIC)] != MAGIC:
            raise CorruptSegmentError(f"{path}: not a segment file (bad magic)")
    aes, name, number = AESGCM(data_key), path.stem, first_number
    pos = len(MAGIC) if start == 0 else 0  # position in `data`; the file offset is start + pos
    while pos < len(data):
        offset = start + pos
        if len(data) - pos < HEADER.size:
            _torn(path, offset, end_of_data, "incomplete frame header")
            return
        length, id_tag, nonce = HEADER.unpack_from(data, pos)
        end = pos + HEADER.size + length
        if end > len(data):
            _torn(path, offset, end_of_data, f"frame of {length} bytes runs past the end of the file")
            return
        try:
            if length < GCM_TAG_BYTES:
                raise InvalidTag()
            plaintext = aes.decrypt(nonce, data[pos + HEADER.size:end], _aad(name, number, id_tag))
        except InvalidTag:
            if end == len(data) or not data[end:].strip(b"\x00"):
                _torn(path, offset, end_of_data, "the last frame does not decrypt")
                return
            raise CorruptSegmentError(
                f"{path}: frame {number} at byte offset {offset} does not decrypt and is followed by more data: "
                f"the segment was damaged or altered") from None
        yield Frame(number=number, offset=offset, end=start + end, id_tag=id_tag, plaintext=plaintext)
        pos, number = end, number + 1
