"""Task discovery (S3) against the bundled trace's answer key, and its cost at 100,000 calls.

    .venv/bin/python benchmarks/discover.py [--calls 100000] [--parts bundled,repeated,distinct,shared]

1. The bundled trace (data/sample/trace.jsonl.gz), curated as the curate stage does, goes through `discover`
   with the tunables of params.yaml: adjusted Rand index and NMI of the tasks against the answer key's sub-task
   kind (outliers count as one more group), the outlier share, and the time of embedding, UMAP and HDBSCAN.
2. Inside the CLINC150 routing task: the NMI of the clusters found there against CLINC150's 10 domains
   (data/sources/clinc150/domains.json; out-of-scope calls left out), both for the content clusters of the
   run above (before the structural merge) and for a UMAP + HDBSCAN run on that task's calls alone.
3. The same timings for `--calls` calls resampled from the curated trace (with replacement, new ids), twice: as
   resampled (repeated texts are embedded once), and with every resampled call made distinct by a light
   perturbation of the user's message (one word dropped or repeated), so that every call is embedded.
4. `shared`: the shared-prompt variant of the bundled trace (data/sample/trace_shared_prompt.jsonl.gz, one
   generic system prompt and each sub-task's instruction in the user turn, in 4 wordings), curated the same way:
   the same figures, how many tasks each true sub-task became with the purity of each task, and the calls
   curation dropped as near-duplicates, against the original trace's.

Each part's figures are kept in .llm2slm/benchmarks/discover-<part>.json, so the parts can run one at a time (or
in separate processes); the table in docs/benchmarks.md (section "discovery") is rewritten from the parts
measured so far (`--parts ""` only rewrites it).
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

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.table import write_section  # noqa: E402
from llm2slm.common.env import apply_quiet_offline_defaults  # noqa: E402
from llm2slm.common.config import ClusterConfig, load_config  # noqa: E402
from llm2slm.discovery.pipeline import Discovery, Options, discover  # noqa: E402
from llm2slm.discovery.text import content_text, shape_text  # noqa: E402
from llm2slm.sample import bundled_answer_key_path, bundled_trace_path, read_answer_key  # noqa: E402
from llm2slm.common.schema import CallRecord  # noqa: E402

log = logging.getLogger("benchmarks.discover")
DOMAINS = REPO / "data" / "sources" / "clinc150" / "domains.json"
RESULTS_DIR = REPO / ".llm2slm" / "benchmarks"
PARTS = ("bundled", "repeated", "distinct", "shared")
SHARED_TRACE = REPO / "data" / "sample" / "trace_shared_prompt.jsonl.gz"


def curated_trace(snapshot: Path | None = None, trace: Path | None = None) -> tuple[list[CallRecord], dict]:
    """(calls, what curation removed by reason): a trace (the bundled one by default) curated with params.yaml's
    settings, or the calls of a curated snapshot (Parquet; nothing removed is known)."""
    if snapshot is not None:
        from llm2slm.common.snapshot import read_snapshot

        return sorted(read_snapshot(snapshot), key=lambda r: r.id), {}
    from llm2slm.capture import parse_jsonl
    from llm2slm.curation.pipeline import curate_records

    curated = curate_records(parse_jsonl(trace or bundled_trace_path()), load_config(REPO).curate)
    return sorted(curated.records, key=lambda r: r.id), dict(curated.audit.removed)


def breakdown(found: Discovery, kinds: dict[str, str]) -> dict:
    """Per true sub-task, the tasks its calls went to (with counts); per task, its purity (the share of its
    calls from its largest sub-task)."""
    from collections import Counter

    pairs = Counter((kinds[i], t) for i, t in zip(found.ids, found.task_ids, strict=True))
    became = {k: {t: n for (kk, t), n in sorted(pairs.items()) if kk == k} for k in sorted(set(kinds.values()))}
    sizes = Counter(found.task_ids)
    purity = {t: round(max(n for (_, tt), n in pairs.items() if tt == t) / sizes[t], 4) for t in sorted(sizes)}
    return {"became": {k: v for k, v in became.items() if v}, "purity": purity}


def scores(found: Discovery, kinds: dict[str, str]) -> dict[str, float]:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    truth = [kinds[i] for i in found.ids]
    return {"ari": float(adjusted_rand_score(truth, found.task_ids)),
            "nmi": float(normalized_mutual_info_score(truth, found.task_ids)),
            "outliers": found.n_outliers / len(found.ids), "tasks": len(found.tasks)}


def distinct_texts(records: list[CallRecord], cfg: ClusterConfig) -> int:
    return len({content_text(r, cfg.max_chars) for r in records}) + len({shape_text(r) for r in records})


def timed_discover(records: list[CallRecord], cfg: ClusterConfig) -> tuple[Discovery, float, float]:
    """The discovery, its wall seconds and its CPU seconds (all threads of this process)."""
    start, cpu = time.perf_counter(), time.process_time()
    found = discover(records, cfg, Options.from_select(load_config(REPO).select, progress=False))
    return found, time.perf_counter() - start, time.process_time() - cpu


def domain_nmi(found: Discovery, key_rows: list[dict[str, str]], cfg: ClusterConfig) -> dict[str, float]:
    """NMI against CLINC150's domains of (a) the run's content clusters, (b) a clustering of the routing calls."""
    from sklearn.metrics import normalized_mutual_info_score

    from llm2slm.discovery.reduce import hdbscan_labels, min_cluster_size_for, reassign_outliers, umap_reduce

    domain_of = {intent: domain for domain, intents in json.loads(DOMAINS.read_text()).items() for intent in intents}
    intent = {r["id"]: r["label"] for r in key_rows if r["task_kind"] == "intent_routing"}
    rows = np.array([i for i, call in enumerate(found.ids) if intent.get(call) in domain_of])
    domains = [domain_of[intent[found.ids[i]]] for i in rows]
    content = found.content_labels[rows]
    start = time.perf_counter()
    points = umap_reduce(found.embeddings[rows], cfg.umap_components, cfg.umap_neighbors, cfg.seed, cfg.umap_fit_max)
    size = min_cluster_size_for(len(rows), cfg.min_cluster_fraction)
    alone, probabilities = hdbscan_labels(points, size, cfg.min_samples)
    alone, _ = reassign_outliers(points, alone, probabilities, cfg.outlier_reach_quantile)
    return {"calls": len(rows), "content_nmi": float(normalized_mutual_info_score(domains, content)),
            "content_clusters": len(set(content.tolist()) - {-1}),
            "alone_nmi": float(normalized_mutual_info_score(domains, alone)),
            "alone_clusters": len(set(alone.tolist()) - {-1}), "alone_outliers": float((alone < 0).mean()),
            "alone_s": time.perf_counter() - start, "min_cluster_size": size}


def perturb(text: str, rng: random.Random) -> str:
    """The text with one word dropped or repeated (a one-word text gains a word)."""
    words = text.split()
    if len(words) < 2:
        return f"{text} please"
    at = rng.randrange(len(words))
    return " ".join(words[:at] + words[at + 1:]) if rng.random() < 0.5 else " ".join(words[:at + 1] + words[at:])


def resample(records: list[CallRecord], kinds: dict[str, str], n: int, seed: int,
             distinct: bool) -> tuple[list[CallRecord], dict[str, str]]:
    rng = random.Random(seed)
    out, key = [], {}
    for k in range(n):
        source = records[rng.randrange(len(records))]
        messages = source.messages
        if distinct:
            last = max(i for i, m in enumerate(messages) if m.role == "user")
            messages = [*messages[:last], messages[last].model_copy(update={
                "content": perturb(messages[last].content or "", rng)}), *messages[last + 1:]]
        call_id = f"r{k:07d}"
        out.append(source.model_copy(update={"id": call_id, "messages": messages}))
        key[call_id] = kinds[source.id]
    return out, key


def _phase(timings: dict[str, float], name: str) -> str:
    return f"{timings[name + '_s']:.0f} s ({timings.get(name + '_cpu_s', float('nan')):.0f})"


def row(label: str, calls: int, texts: int, found: Discovery, wall: float, cpu: float,
        quality: dict[str, float]) -> str:
    t = found.timings
    return (f"| {label} | {calls:,} | {texts:,} | {_phase(t, 'embed')} | {_phase(t, 'umap')} | {_phase(t, 'hdbscan')} "
            f"| {wall:.0f} s = {wall / 60:.1f} min ({cpu:.0f}) | {quality['tasks']} | {quality['outliers']:.2%} "
            f"| {quality['ari']:.3f} | {quality['nmi']:.3f} |")


LABELS = {"bundled": "bundled trace, curated (first run in the process: numba compiles inside UMAP)",
          "repeated": "resampled (repeated texts are embedded once)",
          "distinct": "resampled, each call perturbed (all distinct)",
          "shared": "shared-prompt variant of the bundled trace, curated"}


def results_path(part: str) -> Path:
    return RESULTS_DIR / f"discover-{part}.json"


def measure(part: str, records: list[CallRecord], kinds: dict[str, str], key_rows: list[dict[str, str]],
            cfg: ClusterConfig, calls: int) -> dict:
    """One part's figures: its table row, the load average around it, and (bundled) the CLINC150 domain NMI."""
    before = os.getloadavg()[0]
    label = LABELS[part]
    removed = None
    if part == "shared":
        records, removed = curated_trace(trace=SHARED_TRACE)
    elif part != "bundled":
        label += f", drawn from {len(records):,} curated calls"
        records, kinds = resample(records, kinds, calls, seed=cfg.seed, distinct=part == "distinct")
    found, wall, cpu = timed_discover(records, cfg)
    quality = scores(found, kinds)
    texts = distinct_texts(records, cfg)
    result = {"row": row(label, len(records), texts, found, wall, cpu, quality), "texts": texts,
              "timings": {k: round(v, 1) for k, v in found.timings.items()},
              "load": [round(before, 1), round(os.getloadavg()[0], 1)]}
    if part == "bundled":
        result["clinc"] = domain_nmi(found, key_rows, cfg)
    if part in ("bundled", "shared"):
        result["breakdown"] = breakdown(found, kinds)
    if removed is not None:
        result["removed"] = removed
    log.info("%s: %s", part, result)
    return result


def read_results() -> dict:
    return {p: json.loads(results_path(p).read_text()) for p in PARTS if results_path(p).is_file()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=100_000, help="calls in the resampled runs")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"comma-separated, of {', '.join(PARTS)}; empty: only rewrite the table")
    parser.add_argument("--curated", type=Path, help="a curated snapshot of the bundled trace (skips curation)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = parser.parse_args()
    parts = [p for p in args.parts.split(",") if p]
    if set(parts) - set(PARTS):
        parser.error(f"--parts: expected some of {', '.join(PARTS)}, got {args.parts!r}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    apply_quiet_offline_defaults()  # before the embedding model, UMAP and numba are imported
    cfg = load_config(REPO).cluster
    if parts:
        key_rows = read_answer_key(bundled_answer_key_path())
        kinds = {r["id"]: r["task_kind"] for r in key_rows}
        records, removed = curated_trace(args.curated)
        log.info("bundled trace: %d calls after curation", len(records))
    for part in parts:
        result = measure(part, records, kinds, key_rows, cfg, args.calls)
        if part == "bundled" and removed:
            result["removed"] = removed
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        results_path(part).write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    results = read_results()
    if results:
        write_section(args.out, "discovery", body(cfg, results))
    print("\n".join(r["row"] for r in results.values()))


def shared(results: dict) -> str:
    """How busy the machine was: a load average before a part above 1.5 means other processes used the cores."""
    if any(r["load"][0] > 1.5 for r in results.values()):
        return "other processes shared the cores in some parts: their times are upper bounds"
    return "no other work on the machine"


def body(cfg: ClusterConfig, results: dict) -> str:
    machine = f"{os.cpu_count()} cores, {platform.machine()}, no GPU"
    lines = [results[p]["row"] for p in PARTS if p in results]
    loads = "; ".join(f"{p} {results[p]['load'][0]} -> {results[p]['load'][1]}" for p in PARTS if p in results)
    clinc = results.get("bundled", {}).get("clinc")
    text = (
        f"`benchmarks/discover.py` on {machine} (24 GiB). Load average (1 min) before -> after each part: {loads} "
        f"({shared(results)}). Tunables from params.yaml (MiniLM, UMAP "
        f"{cfg.umap_components}-d, {cfg.umap_neighbors} neighbours, fitted on at most {cfg.umap_fit_max:,} calls "
        f"and the rest placed by transform; HDBSCAN min cluster size {cfg.min_cluster_fraction:.0%} of the calls; "
        f"outlier budget {cfg.outlier_budget:.0%}). ARI and NMI: the tasks against the answer key's sub-task kind "
        "(`data/sample/answer_key.csv.gz`), outliers as one more group. `texts embedded`: distinct contents plus "
        "distinct shapes (each is embedded once). Times are wall-clock, with the process's CPU seconds (all "
        "threads) in brackets: the CPU figure does not grow with other processes' load. Total: the whole "
        "`discover` call, naming and profiling included. The bundled row uses params.yaml's curation; the "
        "resampled rows are drawn from the same curated calls (or from the snapshot named by `--curated`). The "
        "repeated-text row embeds only the distinct texts of its 100,000 calls; in the all-distinct row one word "
        "of each user message is dropped or repeated, so every call is embedded.\n\n"
        "| calls | n | texts embedded | embed | UMAP | HDBSCAN | total | tasks | outliers | ARI | NMI |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(lines) + "\n\n")
    if clinc:
        text += (
            f"Inside the CLINC150 routing task ({clinc['calls']:,} calls with an in-scope intent), against CLINC150's "
            f"10 domains: the run's content clusters (HDBSCAN before the structural merge) give NMI "
            f"{clinc['content_nmi']:.3f} ({clinc['content_clusters']} clusters); UMAP + HDBSCAN on the routing "
            f"calls alone (min cluster size {clinc['min_cluster_size']}) give NMI {clinc['alone_nmi']:.3f} "
            f"({clinc['alone_clusters']} clusters, {clinc['alone_outliers']:.1%} outliers, {clinc['alone_s']:.0f} s)."
            "\n\n")
    text += projection(results) + shared_prompt(results)
    return text + "Targets: ARI >= 0.9, outliers <= 5%, 100k calls in <= 10 minutes.\n"


def shared_prompt(results: dict) -> str:
    """The shared-prompt part: what each true sub-task became, and near-duplicates against the original."""
    found = results.get("shared", {}).get("breakdown")
    if not found:
        return ""
    became = "; ".join(f"{kind} -> " + ", ".join(f"{t} ({n:,})" for t, n in tasks.items())
                       for kind, tasks in found["became"].items())
    purity = ", ".join(f"{t} {p:.1%}" for t, p in found["purity"].items())
    near = {p: results.get(p, {}).get("removed", {}).get("near_duplicate") for p in ("bundled", "shared")}
    text = f"Shared-prompt variant: each true sub-task became {became}. Purity per task: {purity}."
    if all(v is not None for v in near.values()):
        text += (f" Curation dropped {near['shared']:,} calls of the variant as near-duplicates, against "
                 f"{near['bundled']:,} of the original trace.")
    return text + "\n\n"


def projection(results: dict) -> str:
    """Without a measured all-distinct run: what embedding 100,000 distinct texts costs at the measured rate."""
    repeated = results.get("repeated", {})
    if "distinct" in results or "embed_cpu_s" not in repeated.get("timings", {}):
        return ""
    per_text = repeated["timings"]["embed_cpu_s"] / repeated["texts"]
    return (f"The all-distinct variant has not been measured. At the embedding cost measured above "
            f"({per_text * 1000:.1f} ms of CPU per text), 100,000 distinct texts need about "
            f"{per_text * 100_000 / 60:.0f} CPU-minutes, about {per_text * 100_000 / 120:.0f} minutes on two idle "
            "cores, on top of the UMAP and HDBSCAN times above.\n\n")


if __name__ == "__main__":
    main()
