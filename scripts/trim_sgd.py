#!/usr/bin/env python
"""Copy the Schema-Guided Dialogue dialogues the sample trace uses into data/sources/sgd/.

Reads an upstream folder holding `schema.json`, `UPSTREAM_LICENSE.txt` and one `dialogues_<Service>.json.gz` per
service of llm2slm/sample/sgd.py (single-service dialogues of SGD's train split), picks for each service, seeded,
the dialogues whose calls first reach TRIM_CALLS_PER_AGENT, and writes them (upstream order and content, gzip,
reproducible bytes) with the schema and licence unchanged. The build then uses every bundled dialogue.

    .venv/bin/python scripts/trim_sgd.py --upstream <folder> [--out data/sources/sgd] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from llm2slm.sample.build import stream
from llm2slm.sample.common import default_sources_dir, write_gz
from llm2slm.sample.sgd import SCHEMA_FILE, SERVICES, SGD_DIR, TRIM_CALLS_PER_AGENT, load_dialogues, select_dialogues
from llm2slm.sample.sgd_dialogues import count_calls

LICENCE_FILE = "UPSTREAM_LICENSE.txt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream", type=Path, required=True, help="folder with the upstream files")
    parser.add_argument("--out", type=Path, default=default_sources_dir() / SGD_DIR, help="output folder")
    parser.add_argument("--seed", type=int, default=7, help="seed of the selection (default 7)")
    args = parser.parse_args()
    for name in (SCHEMA_FILE, LICENCE_FILE):
        if not (args.upstream / name).is_file():
            raise SystemExit(f"missing upstream file: {args.upstream / name}")
    args.out.mkdir(parents=True, exist_ok=True)
    for kind, service in SERVICES.items():
        dialogues = load_dialogues(args.upstream, service)
        rng = stream(args.seed, f"sgd-trim:{kind}")
        picked = {d["dialogue_id"] for d in select_dialogues(dialogues, TRIM_CALLS_PER_AGENT, rng)}
        kept = [d for d in dialogues if d["dialogue_id"] in picked]
        write_gz(args.out / service.dialogue_file(), json.dumps(kept, ensure_ascii=False, separators=(",", ":")))
        print(f"{service.name}: {len(kept)} of {len(dialogues)} dialogues, {sum(count_calls(d) for d in kept)} calls")
    for name in (SCHEMA_FILE, LICENCE_FILE):
        shutil.copyfile(args.upstream / name, args.out / name)


if __name__ == "__main__":
    main()
