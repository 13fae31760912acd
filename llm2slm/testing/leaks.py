"""Find given values in every file under a folder, reading inside Parquet, gzip and JSON files.

A plain text search does not see through Parquet's compression, gzip, or JSON's escapes ("\u00e9" for "é"), so
each file is read by its content (magic bytes, not its name: the DVC cache stores files under their hash): Parquet
as the text of every cell, gzip decompressed (then read again), JSON loaded and written back with its characters
unescaped, anything else as UTF-8 with undecodable bytes dropped. Used by the tests that check no captured value
leaves the encrypted store in clear.
"""

from __future__ import annotations

import gzip
import io
import json
import re
from collections.abc import Iterable
from pathlib import Path

PARQUET_MAGIC = b"PAR1"
GZIP_MAGIC = b"\x1f\x8b"


def _parquet_text(data: bytes) -> str:
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(data))
    return "\n".join(str(value) for column in table.columns for value in column.to_pylist())


def _json_text(text: str) -> str | None:
    """`text` as JSON or JSON lines written back without escapes; None when it is neither."""
    try:
        return json.dumps(json.loads(text), ensure_ascii=False)
    except ValueError:
        pass
    lines = [line for line in text.splitlines() if line.strip()]
    try:
        return "\n".join(json.dumps(json.loads(line), ensure_ascii=False) for line in lines)
    except ValueError:
        return None


def readable_text(data: bytes) -> str:
    """The text a person could read out of a file's bytes (module docstring)."""
    if data[:4] == PARQUET_MAGIC and data[-4:] == PARQUET_MAGIC:
        return _parquet_text(data)
    if data[:2] == GZIP_MAGIC:
        try:
            return readable_text(gzip.decompress(data))
        except (OSError, EOFError):
            return ""
    text = data.decode("utf-8", errors="ignore")
    if text.lstrip()[:1] in ("{", "["):
        return _json_text(text) or text
    return text


def find_values(root: Path, values: Iterable[str]) -> dict[Path, set[str]]:
    """Each file under `root` that holds any of `values` (whole words), with the values it holds."""
    wanted = sorted({v for v in values if v}, key=len, reverse=True)
    if not wanted:
        return {}
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(v) for v in wanted) + r")(?!\w)")
    found: dict[Path, set[str]] = {}
    for path in sorted(Path(root).rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        hits = set(pattern.findall(readable_text(path.read_bytes())))
        if hits:
            found[path] = hits
    return found
