#!/usr/bin/env python
"""Write the shared-prompt variant of the bundled trace: one generic system prompt, each call's instruction moved
into its user turn in one of several wordings (llm2slm/sample/shared_prompt.py). Answers, ids and the answer key are
unchanged (the variant uses data/sample/answer_key.csv.gz as it is). The same seed gives a byte-identical file.

    .venv/bin/python scripts/shared_prompt_trace.py [--out data/sample/trace_shared_prompt.jsonl.gz] [--seed 0]
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from llm2slm.capture import parse_jsonl
from llm2slm.sample import SAMPLE_DIR, bundled_answer_key_path, bundled_trace_path, load_answer_key
from llm2slm.sample.common import write_gz
from llm2slm.sample.records import record_line
from llm2slm.sample.shared_prompt import KEPT_KINDS, WORDINGS_PER_KIND, to_shared_prompt, wording_index

DEFAULT_OUT = SAMPLE_DIR / "trace_shared_prompt.jsonl.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output file (.jsonl.gz)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the wording choice (default 0)")
    parser.add_argument("--trace", type=Path, default=bundled_trace_path(), help="input trace (the bundled one)")
    parser.add_argument("--answer-key", type=Path, default=bundled_answer_key_path(), help="its answer key")
    args = parser.parse_args()
    records = parse_jsonl(args.trace)
    key = load_answer_key(args.answer_key)
    shared = to_shared_prompt(records, key, seed=args.seed)
    write_gz(args.out, "".join(record_line(r) for r in shared))
    used: dict[str, Counter[int]] = {}
    for record in records:
        kind = key[record.id]
        if kind in KEPT_KINDS:
            continue
        used.setdefault(kind, Counter())[wording_index(record, kind, args.seed)] += 1
    per_kind = "; ".join(
        f"{kind} {len(counts)}/{WORDINGS_PER_KIND[kind]} wordings ({', '.join(str(counts[i]) for i in sorted(counts))})"
        for kind, counts in sorted(used.items())
    )
    kept = sum(1 for record in records if key[record.id] in KEPT_KINDS)
    print(f"{len(shared)} calls, {len(used)} kinds with one shared system prompt; {per_kind}; {kept} calls of the "
          "multi-turn agents unchanged")
    print(f"-> {args.out} ({args.out.stat().st_size:,} bytes, seed {args.seed})")


if __name__ == "__main__":
    main()
