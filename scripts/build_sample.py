#!/usr/bin/env python
"""Build the bundled sample trace (data/sample/) from the trimmed source datasets in data/sources/."""

from __future__ import annotations

import argparse
from pathlib import Path

from llm2slm.sample.build import build_sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out-dir", type=Path, default=Path("data/sample"), help="output folder (data/sample)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--max-per-kind", type=int, default=None, help="cap the examples per task kind (quick tries)")
    args = parser.parse_args()
    summary = build_sample(args.out_dir, seed=args.seed, max_per_kind=args.max_per_kind)
    kinds = ", ".join(f"{kind} {k.records}" for kind, k in summary.kinds.items())
    print(f"{summary.records} calls ({kinds}); PII {summary.with_pii}, failed {summary.failed}, "
          f"duplicate {summary.duplicate} -> {args.out_dir}")


if __name__ == "__main__":
    main()
