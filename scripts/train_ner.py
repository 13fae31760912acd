"""Train the offline name/location/organisation tagger (llm2slm/curation/ner.py) and write it into the package.

    .venv/bin/python scripts/train_ner.py            # writes llm2slm/curation/models/ner_tagger.npz

Data: the training templates of the Presidio synthetic PII set (data/sources/presidio_synth_pii), split by
template with a seeded hash (llm2slm/curation/synth_pii.py); the evaluation templates are never read here. The
training records are augmented with new fillings of their own templates by values of the training records. A
lexicon of common lower-case words (seen twice or more in BANKING77's customer queries) helps tell capitalised
common words ("Maybe", "During") from names; words frequent in CLINC150's utterances are stored for a rule
applied after the model (a lone common word at the start of a sentence is not a name); Faker's first and last
names make the name list (another feature).

Real text (data/sources/ner_real_text, llm2slm/curation/real_text.py) is added to the synthetic rows: the Broad
Twitter Corpus training sections and WikiGold's first articles, each token weighted REAL_WEIGHT; the held-out
sections are never trained on, and are recorded in the model file.

The first pass is fitted on all rows; the second pass is fitted on features that include the first pass's labels
of the neighbouring tokens, predicted out of fold (3 folds: by template for synthetic records, by blocks of 100
sentences for real text) so it learns from realistic labels; the O offset maximises F2 over both sources, then a
PERSON offset the F2 of PERSON alone. Logistic regression (lbfgs) is deterministic, so the same data and settings
give the same file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llm2slm.curation.ner import (  # noqa: E402
    DEFAULT_MODEL, LABELS, AtomCache, HashedTagger, context_ids, feature_ids, sentence_atoms)
from llm2slm.curation.real_text import (  # noqa: E402
    HELD_OUT_SECTIONS, TRAIN_SECTIONS, WIKIGOLD_TRAIN_DOCUMENTS, load_sections, tagger_rows)
from llm2slm.curation.surrogates import NAME_LOCALES  # noqa: E402  (the locales of the surrogate names too)
from llm2slm.curation.synth_pii import (  # noqa: E402
    SYNTH_PATH, augment, covering_seed, load_examples, ner_training_rows, split_by_template)

SEED = 13  # the template split (the first seed from here whose held-out side has every type) and augmentation
EVAL_FRACTION = 0.3  # share of templates held out for evaluation
BUCKETS = 2**17  # hashed feature buckets
AUGMENT_PER_TEMPLATE = 12  # new fillings of each training template
C = 0.5  # inverse L2 regularisation strength
REAL_WEIGHT = 0.5  # weight of a real-text token relative to a synthetic one
LOWER_CASE_COPIES = False  # add a lower-cased copy of each real-text training tweet (tweets are often lower case)
FOLDS = 3


LEXICON: frozenset[str] = frozenset()  # set by main() before any design matrix is built
NAMES: frozenset[str] = frozenset()  # likewise


def build_lexicon() -> frozenset[str]:
    """Common words: lower-case tokens seen at least twice in BANKING77's customer queries (cased English).
    Not from the training records: there every non-entity word would be in it, and the model would learn that
    any word outside it is a name."""
    import csv
    import gzip
    from collections import Counter

    from llm2slm.curation.ner import tokenize

    counts: Counter = Counter()
    with gzip.open(ROOT / "data" / "sources" / "banking77" / "train.csv.gz", "rt", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            counts.update(t.text for t in tokenize(row["text"]) if t.text.isalpha() and t.text.islower())
    return frozenset(word for word, n in counts.items() if n >= 2)


def build_names() -> frozenset[str]:
    """Lower-cased first and last names of Faker's person providers for NAME_LOCALES, single words of letters only.
    Not from the training records: a list holding every training name would teach the model that a name outside
    it is no name."""
    import importlib

    names: set[str] = set()
    for locale in NAME_LOCALES:
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        for attribute in ("first_names", "first_names_male", "first_names_female", "last_names"):
            for name in getattr(provider, attribute, ()):
                if name.isalpha():
                    names.add(name.lower())
    return frozenset(names)


def build_common_words() -> frozenset[str]:
    """Words seen at least 5 times in CLINC150's utterances (lower-cased English): a capitalised one alone at the
    start of a sentence is not taken for a name ("Reply with ...", "Write to ...")."""
    import gzip
    from collections import Counter

    from llm2slm.curation.ner import tokenize

    with gzip.open(ROOT / "data" / "sources" / "clinc150" / "data_full.json.gz", "rt", encoding="utf-8") as handle:
        data = json.load(handle)
    counts: Counter = Counter()
    for split in ("train", "val", "oos_train"):
        for text, _ in data[split]:
            counts.update(t.text for t in tokenize(text) if t.text.isalpha())
    return frozenset(word for word, n in counts.items() if n >= 5)


def design(rows: list[tuple[list[str], list[str]]], first: list[np.ndarray] | None) -> tuple[csr_matrix, np.ndarray]:
    """Sparse count matrix of hashed features (tokens x buckets) and the label vector."""
    cache = AtomCache(LEXICON, names=NAMES)
    blocks = []
    for r, (words, _) in enumerate(rows):
        ids = feature_ids(sentence_atoms(words, cache), BUCKETS)
        if first is not None:
            ids = np.concatenate([ids, context_ids(first[r], BUCKETS)], axis=1)
        blocks.append(ids)
    width = blocks[0].shape[1]
    indices = np.concatenate([b.reshape(-1) for b in blocks])
    n = len(indices) // width
    data = np.ones(len(indices), dtype=np.float32)
    matrix = csr_matrix((data, indices, np.arange(0, len(indices) + 1, width)), shape=(n, BUCKETS))
    matrix.sum_duplicates()
    targets = np.array([LABELS.index(label) for _, labels in rows for label in labels])
    return matrix, targets


def fit(matrix: csr_matrix, targets: np.ndarray, weights: np.ndarray | None = None) -> LogisticRegression:
    model = LogisticRegression(C=C, max_iter=400, tol=1e-5)
    return model.fit(matrix, targets, sample_weight=weights)


def token_weights(rows, row_weights: list[float]) -> np.ndarray:
    return np.concatenate([np.full(len(words), w, dtype=np.float64) for (words, _), w in zip(rows, row_weights)])


def full_weights(model: LogisticRegression) -> tuple[np.ndarray, np.ndarray]:
    """Weights (buckets x labels) and bias in LABELS order, also when a label never occurred."""
    weights = np.zeros((BUCKETS, len(LABELS)), dtype=np.float32)
    bias = np.full(len(LABELS), -1e4, dtype=np.float32)
    for column, label in enumerate(model.classes_):
        weights[:, label] = model.coef_[column]
        bias[label] = model.intercept_[column]
    return weights, bias


def predict_rows(model: LogisticRegression, rows: list[tuple[list[str], list[str]]]) -> list[np.ndarray]:
    """Per row, the first pass's log-probabilities (tokens x labels, LABELS order)."""
    matrix, _ = design(rows, None)
    flat = np.full((matrix.shape[0], len(LABELS)), -1e4)
    flat[:, model.classes_] = model.predict_log_proba(matrix)
    out, cursor = [], 0
    for words, _ in rows:
        out.append(flat[cursor:cursor + len(words)])
        cursor += len(words)
    return out


def best_o_offset(scores: list[np.ndarray], rows) -> float:
    """The offset on the O score that maximises token-level F2 of the out-of-fold first pass."""
    gold = np.concatenate([[LABELS.index(label) for label in labels] for _, labels in rows])
    stacked = np.concatenate(scores)
    best, best_f2 = 0.0, -1.0
    for offset in np.arange(-3.0, 0.01, 0.25):
        shifted = stacked.copy()
        shifted[:, 0] += offset
        predicted = shifted.argmax(axis=1)
        tp = float(((predicted == gold) & (gold > 0)).sum())
        fp = float(((predicted != gold) & (predicted > 0)).sum())
        fn = float(((predicted != gold) & (gold > 0)).sum())
        f2 = 5 * tp / (5 * tp + 4 * fn + fp) if tp else 0.0
        if f2 > best_f2 + 1e-9:
            best, best_f2 = float(offset), f2
    print(f"O offset {best:+.2f}: out-of-fold first-pass token F2 {best_f2:.3f}")
    return best


def best_person_offset(scores: list[np.ndarray], rows, o_offset: float) -> float:
    """The offset on the PERSON score that maximises the token-level F2 of PERSON (type-aware) of the out-of-fold
    first pass, given the O offset. PERSON is the type the default policy replaces (places and organisations are
    kept): a missed name leaks, a place or company taken for a name only gets a surrogate name."""
    person = LABELS.index("PERSON")
    gold = np.concatenate([[LABELS.index(label) for label in labels] for _, labels in rows]) == person
    stacked = np.concatenate(scores)
    stacked[:, 0] += o_offset
    best, best_f2 = 0.0, -1.0
    for offset in np.arange(0.0, 3.01, 0.25):
        shifted = stacked.copy()
        shifted[:, person] += offset
        predicted = shifted.argmax(axis=1) == person
        tp, fp, fn = float((predicted & gold).sum()), float((predicted & ~gold).sum()), float((~predicted & gold).sum())
        f2 = 5 * tp / (5 * tp + 4 * fn + fp) if tp else 0.0
        if f2 > best_f2 + 1e-9:
            best, best_f2 = float(offset), f2
    print(f"PERSON offset {best:+.2f}: out-of-fold first-pass PERSON token F2 {best_f2:.3f}")
    return best


def out_of_fold_scores(rows, fold_of: list[int], row_weights: list[float]) -> list[np.ndarray]:
    """First-pass log-probabilities of each row from a model that did not see its fold (synthetic rows are folded
    by template, real-text rows by blocks of 100 consecutive sentences)."""
    scores: list[np.ndarray] = [np.zeros(0) for _ in rows]
    for fold in range(FOLDS):
        inside = [i for i, f in enumerate(fold_of) if f != fold]
        outside = [i for i, f in enumerate(fold_of) if f == fold]
        picked = [rows[i] for i in inside]
        model = fit(*design(picked, None), token_weights(picked, [row_weights[i] for i in inside]))
        for i, predicted in zip(outside, predict_rows(model, [rows[i] for i in outside])):
            scores[i] = predicted
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL)
    args = parser.parse_args()
    started = time.perf_counter()
    everything = load_examples(ROOT / SYNTH_PATH)
    seed = covering_seed(everything, SEED, EVAL_FRACTION)
    train, held_out = split_by_template(everything, seed, EVAL_FRACTION)
    examples = train + augment(train, AUGMENT_PER_TEMPLATE, seed)
    global LEXICON, NAMES
    LEXICON, NAMES = build_lexicon(), build_names()
    rows = ner_training_rows(examples)
    fold_of = [int(hashlib.sha256(e.template.encode()).hexdigest(), 16) % FOLDS for e in examples]
    print(f"{len(train)} training records ({len({e.template for e in train})} templates) + "
          f"{len(examples) - len(train)} augmented; {len(held_out)} held out "
          f"({len({e.template for e in held_out})} templates)")
    n_synthetic = len(rows)
    real = load_sections(TRAIN_SECTIONS)
    for name in TRAIN_SECTIONS:
        variants = [False, True] if LOWER_CASE_COPIES and name.startswith("btc_") else [False]
        for lower in variants:
            section_rows = tagger_rows(real[name], lower=lower)
            rows += section_rows
            fold_of += [(k // 100) % FOLDS for k in range(len(section_rows))]
    row_weights = [1.0] * n_synthetic + [REAL_WEIGHT] * (len(rows) - n_synthetic)
    print(f"{len(rows) - n_synthetic} real-text rows ({', '.join(TRAIN_SECTIONS)}"
          f"{', with lower-cased copies of the tweets' if LOWER_CASE_COPIES else ''}); held out: "
          f"{', '.join(HELD_OUT_SECTIONS)}")
    weights = token_weights(rows, row_weights)
    first_model = fit(*design(rows, None), weights)
    oof = out_of_fold_scores(rows, fold_of, row_weights)
    offset = best_o_offset(oof, rows)
    person_offset = best_person_offset(oof, rows, offset)
    first_labels = []
    for row_scores in oof:
        shifted = row_scores.copy()
        shifted[:, 0] += offset
        shifted[:, LABELS.index("PERSON")] += person_offset
        first_labels.append(shifted.argmax(axis=1))
    second_model = fit(*design(rows, first_labels), weights)
    w0, b0 = full_weights(first_model)
    w1, b1 = full_weights(second_model)
    tagger = HashedTagger(weights=(w0, w1), bias=(b0, b1), buckets=BUCKETS, lexicon=LEXICON,
                          common=build_common_words(), names=NAMES)
    tagger.o_offset, tagger.person_offset = offset, person_offset
    args.out.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"seed": seed, "eval_fraction": EVAL_FRACTION, "augment_per_template": AUGMENT_PER_TEMPLATE,
                "C": C, "train_templates": len({e.template for e in train}), "train_records": len(train),
                "eval_templates": len({e.template for e in held_out}), "data": str(SYNTH_PATH),
                "lexicon_words": len(LEXICON), "common_words": len(tagger.common),
                "names": len(NAMES), "name_locales": list(NAME_LOCALES),
                "real_text_train_sections": list(TRAIN_SECTIONS),
                "real_text_held_out_sections": list(HELD_OUT_SECTIONS),
                "real_text_wikigold_train_documents": WIKIGOLD_TRAIN_DOCUMENTS, "real_text_weight": REAL_WEIGHT,
                "real_text_lower_case_copies": LOWER_CASE_COPIES, "real_text_rows": len(rows) - n_synthetic}
    tagger.save(args.out, metadata)
    print(json.dumps(metadata, sort_keys=True))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB) in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
