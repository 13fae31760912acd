"""Write one named section of docs/benchmarks.md, leaving the other sections as they are."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

HEADER = "# Benchmarks\n\nFigures measured by the scripts in `benchmarks/`; each section names its machine and date.\n"


def write_section(path: Path, name: str, body: str) -> None:
    text = path.read_text() if path.exists() else HEADER
    block = f"<!-- {name} -->\n## {name}\n\nMeasured {date.today().isoformat()}. {body}<!-- /{name} -->\n"
    pattern = re.compile(rf"<!-- {re.escape(name)} -->.*?<!-- /{re.escape(name)} -->\n", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + block
    path.write_text(text)


def load_note(load_1min: float, busy: str = "other processes shared the cores, so the speeds are lower bounds") -> str:
    """What a 1-minute load average says about a measurement on this machine: above 1.5, something else ran."""
    return busy if load_1min > 1.5 else "no other work on the machine"
