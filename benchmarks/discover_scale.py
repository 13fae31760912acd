"""Task discovery at scale: 1,000,000 calls with distinct contents, discovered on a sample and assigned by structure.

    .venv/bin/python benchmarks/discover_scale.py [--calls 1000000] [--trace shared|bundled] [--chunk 50000]

1. The trace (the shared-prompt variant by default, data/sample/trace_shared_prompt.jsonl.gz; or the bundled one)
   is curated as the curate stage does; `discover_and_fit` finds its tasks and fits the assigner (what the
   cluster stage does): every one of these calls is embedded once.
2. `--calls` calls are drawn from the curated ones (with replacement, new ids) in chunks of `--chunk`, each made
   distinct by a light perturbation of its user message's own words (one word dropped or repeated; the instruction
   lines a framework wrapped around them are left as they are). Each chunk is placed by the fitted assigner with
   `by_structure=True`: a call whose structure names one task (it passes that task's exclusive gate alone) is
   assigned without being embedded; the others are embedded and placed by centroid.
3. The adjusted Rand index of all the calls' tasks against the answer key's sub-task kind (none as one more
   group), how many calls had to be embedded, and the wall and CPU times of each phase go into
   docs/benchmarks.md (section "discovery at scale"); the figures are kept in
   .llm2slm/benchmarks/discover-scale-<trace>.json.
"""

from __future__ import annotations

import sys
from pathlib import Path

# imports resolve from the repository root, never from the script's own folder
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.discover import RESULTS_DIR, SHARED_TRACE, curated_trace, perturb  # noqa: E402
from benchmarks.table import write_section  # noqa: E402
from llm2slm.common.config import load_config  # noqa: E402
from llm2slm.common.env import apply_quiet_offline_defaults  # noqa: E402
from llm2slm.common.schema import CallRecord  # noqa: E402
from llm2slm.common.templates import Templates, mask_line, message_lines  # noqa: E402
from llm2slm.sample import bundled_answer_key_path, read_answer_key  # noqa: E402

log = logging.getLogger("benchmarks.discover_scale")
TRACES = ("shared", "bundled")


def perturb_input(text: str, templates: Templates, rng: random.Random) -> str:
    """`text` (a user message) with one word of its own input dropped or repeated; template lines kept."""
    known = templates.lines.get("user", frozenset())
    lines = message_lines(text)
    variable = [i for i, line in enumerate(lines) if mask_line(line) not in known]
    if not variable:
        return perturb(text, rng)
    at = rng.choice(variable)
    lines[at] = perturb(lines[at], rng)
    return "\n".join(lines)


def draw(records: list[CallRecord], kinds: dict[str, str], n: int, start: int, rng: random.Random,
         templates: Templates) -> tuple[list[CallRecord], list[str]]:
    """`n` calls drawn from `records`, each made distinct (new ids from `start`), and their true kinds."""
    out, truth = [], []
    for k in range(start, start + n):
        source = records[rng.randrange(len(records))]
        messages = list(source.messages)
        last = max(i for i, m in enumerate(messages) if m.role == "user")
        messages[last] = messages[last].model_copy(update={
            "content": perturb_input(messages[last].content or "", templates, rng)})
        out.append(source.model_copy(update={"id": f"r{k:07d}", "messages": messages}))
        truth.append(kinds[source.id])
    return out, truth


def measure(trace: str, calls: int, chunk: int) -> dict:
    from sklearn.metrics import adjusted_rand_score

    from llm2slm.discovery.ids import Registry
    from llm2slm.discovery.pipeline import Options
    from llm2slm.discovery.run import discover_and_fit

    cfg = load_config(REPO)
    kinds = {r["id"]: r["task_kind"] for r in read_answer_key(bundled_answer_key_path())}
    load_before = os.getloadavg()[0]
    records, _ = curated_trace(trace=SHARED_TRACE if trace == "shared" else None)
    start, cpu = time.perf_counter(), time.process_time()
    fitted = discover_and_fit(records, cfg.cluster, Options.from_select(cfg.select, progress=False), Registry())
    fit = {"wall_s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu, "calls": len(records),
           "tasks": len(fitted.catalogue.tasks)}
    log.info("discovered %d tasks in %d calls in %.0f s", fit["tasks"], len(records), fit["wall_s"])
    rng = random.Random(cfg.cluster.seed)
    predicted: list[str] = []
    truth: list[str] = []
    embedded = 0
    start, cpu = time.perf_counter(), time.process_time()
    for offset in range(0, calls, chunk):
        batch, batch_truth = draw(records, kinds, min(chunk, calls - offset), offset, rng,
                                  fitted.assigner.turn_templates)
        decided = [fitted.assigner.by_structure(r) for r in batch]
        rest = [r for r, task in zip(batch, decided, strict=True) if task is None]
        placed = iter(task for task, _ in fitted.assigner.assign(rest))  # embedded, then placed by centroid
        predicted += [task if task is not None else next(placed) for task in decided]
        embedded += len(rest)
        truth += batch_truth
        log.info("assigned %d of %d calls (%d embedded so far) in %.0f s", len(predicted), calls, embedded,
                 time.perf_counter() - start)
    assign = {"wall_s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu, "embedded": embedded}
    return {"trace": trace, "calls": calls, "chunk": chunk, "fit": fit, "assign": assign,
            "ari": float(adjusted_rand_score(truth, predicted)),
            "none_share": predicted.count("none") / len(predicted),
            "load": [round(load_before, 1), round(os.getloadavg()[0], 1)]}


def body(results: dict[str, dict]) -> str:
    machine = f"{os.cpu_count()} cores, {platform.machine()}, no GPU, 24 GiB"
    rows = []
    for r in results.values():
        total = r["fit"]["wall_s"] + r["assign"]["wall_s"]
        rows.append(
            f"| {r['trace']} | {r['fit']['calls']:,} ({r['fit']['tasks']} tasks) | {r['fit']['wall_s']:.0f} s "
            f"({r['fit']['cpu_s']:.0f}) | {r['calls']:,} | {r['assign']['embedded']:,} | "
            f"{r['assign']['wall_s']:.0f} s ({r['assign']['cpu_s']:.0f}) | {total / 60:.1f} min | "
            f"{r['none_share']:.2%} | {r['ari']:.3f} | {r['load'][0]} -> {r['load'][1]} |")
    return (
        f"`benchmarks/discover_scale.py` on {machine}. Discovery runs on the curated trace (every call embedded "
        "once: the fit), then the assigner it fits places the resampled calls, each made distinct by dropping or "
        "repeating one word of its own input, in chunks of "
        f"{next(iter(results.values()))['chunk']:,}: a call whose structure (system-prompt template, tool offer, "
        "last role, instruction template) passes one task's exclusive gate alone is assigned without an embedding; "
        "the rest are embedded and placed by centroid. Times are wall-clock with the process's CPU seconds in "
        "brackets; curation of the resampled calls is not included (they are drawn from curated calls). ARI: the "
        "tasks of all resampled calls against the answer key's sub-task kind, `none` as one more group.\n\n"
        "| trace | fit on | fit | resampled calls | embedded | assign | total | none | ARI | load before -> after "
        "|\n|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n\nTarget: 1,000,000 calls with "
        "distinct contents discovered within 30 minutes, with the ARI of the discovery itself (>= 0.95).\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--trace", choices=TRACES, default="shared")
    parser.add_argument("--chunk", type=int, default=50_000)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    apply_quiet_offline_defaults()
    result = measure(args.trace, args.calls, args.chunk)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"discover-scale-{args.trace}.json").write_text(json.dumps(result, indent=1) + "\n")
    results = {t: json.loads((RESULTS_DIR / f"discover-scale-{t}.json").read_text()) for t in TRACES
               if (RESULTS_DIR / f"discover-scale-{t}.json").is_file()}
    write_section(args.out, "discovery at scale", body(results))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
