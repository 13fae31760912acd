"""Named entities in real text (tweets and Wikipedia) as labelled data for the name tagger: loading, split, scores.

The data (`data/sources/ner_real_text/`) are the Broad Twitter Corpus sections A, B, E, F, G and H and WikiGold, in
CoNLL format (one token per line, the tag last, a blank line between sentences; BTC is BIO-tagged, WikiGold is
IO-tagged and has `-DOCSTART-` lines between its Wikipedia articles). Tags map to the tagger's labels: PER ->
PERSON, LOC -> LOCATION, ORG -> ORGANIZATION, MISC and anything else -> O.

A sentence is rebuilt as text by joining its tokens with single spaces, except that an "@" token is glued to the
token after it as in the tweet (BTC splits "@jdoe" into "@" and "jdoe"); each token keeps its character offsets, so
a tagger that tokenizes text itself can be scored on it. Tokens that are only whitespace are dropped.

The held-out split is fixed, by section and by document, never random:

- training: BTC sections A, B, E and F, and WikiGold's first 100 articles;
- held out: BTC sections G and H, and WikiGold's articles from the 101st on (45 articles).

The held-out sections are reported one by one (`real_text_scores`): tweets of section G (2014, not UK-only) and
section H (non-UK accounts) and the Wikipedia articles behave differently.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from llm2slm.curation.ner import tokenize

REAL_TEXT_DIR = Path(__file__).resolve().parents[2] / "data" / "sources" / "ner_real_text"
ENTITY_TYPES: tuple[str, ...] = ("PERSON", "LOCATION", "ORGANIZATION")
TAG_MAP = {"PER": "PERSON", "LOC": "LOCATION", "ORG": "ORGANIZATION"}
BTC_FILES = {section: f"btc_{section}.conll.gz" for section in "abefgh"}
WIKIGOLD_FILE = "wikigold.conll.gz"
WIKIGOLD_TRAIN_DOCUMENTS = 100  # WikiGold's first 100 articles train; the rest (45) are held out
TRAIN_SECTIONS: tuple[str, ...] = ("btc_a", "btc_b", "btc_e", "btc_f", "wikigold_train")
HELD_OUT_SECTIONS: tuple[str, ...] = ("btc_g", "btc_h", "wikigold_held_out")


@dataclass(frozen=True)
class Sentence:
    """A sentence as text (tokens joined by single spaces, "@" glued to the next one) with the character offsets and
    label of each token."""

    text: str
    tokens: tuple[tuple[int, int], ...]  # (start, end) of each source token in `text`
    labels: tuple[str, ...]  # O, PERSON, LOCATION or ORGANIZATION per source token
    begins: tuple[bool, ...]  # the token starts an entity (a B- tag, or an I- tag after another type or O)
    document: int  # index of the document in its file (WikiGold articles; 0 for BTC)

    def words(self) -> list[str]:
        return [self.text[s:e] for s, e in self.tokens]

    def spans(self) -> list[tuple[int, int, str]]:
        """(start, end, label) of each entity: its tokens from the one that begins it."""
        found: list[tuple[int, int, str]] = []
        for (start, end), label, begins in zip(self.tokens, self.labels, self.begins):
            if label == "O":
                continue
            if found and not begins and found[-1][2] == label and start - found[-1][1] <= 1:
                found[-1] = (found[-1][0], end, label)
            else:
                found.append((start, end, label))
        return found


def map_tag(tag: str) -> tuple[str, bool]:
    """(label, begins) of a CoNLL tag: `B-PER` -> (PERSON, True), `I-LOC` -> (LOCATION, False), MISC -> O."""
    prefix, _, kind = tag.partition("-")
    if not kind or prefix not in ("B", "I"):
        return "O", False
    label = TAG_MAP.get(kind, "O")
    return label, label != "O" and prefix == "B"


def _split_line(line: str) -> tuple[str, str]:
    """(token, tag): the tag is after the last tab (BTC) or, without a tab, after the last space (WikiGold)."""
    token, _, tag = line.rpartition("\t") if "\t" in line else line.rpartition(" ")
    return token, tag.strip()


def _sentence(rows: list[tuple[str, str]], document: int) -> Sentence | None:
    parts, tokens, labels, begins = [], [], [], []
    position, previous = 0, "O"
    for token, tag in rows:
        label, begin = map_tag(tag)
        begin = begin or (label != "O" and label != previous)  # IO tagging: a new type starts an entity
        previous = label
        if not token.strip():
            continue  # a whitespace token has no characters to score
        if parts and parts[-1] != "@":
            position += 1
        tokens.append((position, position + len(token)))
        parts.append(token)
        labels.append(label)
        begins.append(begin)
        position += len(token)
    if not parts:
        return None
    text = "".join(part if k == 0 or parts[k - 1] == "@" else " " + part for k, part in enumerate(parts))
    return Sentence(text, tuple(tokens), tuple(labels), tuple(begins), document)


def read_conll(path: Path) -> list[Sentence]:
    """The sentences of a gzip-compressed CoNLL file; `-DOCSTART-` lines separate documents."""
    sentences: list[Sentence] = []
    rows: list[tuple[str, str]] = []
    document = 0

    def flush() -> None:
        if rows:
            sentence = _sentence(rows, document)
            if sentence is not None:
                sentences.append(sentence)
            rows.clear()

    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for raw in handle:
            line = raw.rstrip("\r\n")
            if not line:
                flush()
                continue
            token, tag = _split_line(line)
            if token.startswith("-DOCSTART-"):
                flush()
                document += 1
                continue
            rows.append((token, tag))
    flush()
    return sentences


def load_section(name: str, root: Path = REAL_TEXT_DIR) -> list[Sentence]:
    """One named section: `btc_a` ... `btc_h`, `wikigold_train` or `wikigold_held_out`."""
    if name.startswith("wikigold_"):
        sentences = read_conll(root / WIKIGOLD_FILE)
        if name == "wikigold_train":
            return [s for s in sentences if s.document < WIKIGOLD_TRAIN_DOCUMENTS]
        if name == "wikigold_held_out":
            return [s for s in sentences if s.document >= WIKIGOLD_TRAIN_DOCUMENTS]
    elif name.startswith("btc_") and name[4:] in BTC_FILES:
        return read_conll(root / BTC_FILES[name[4:]])
    raise ValueError(f"unknown real-text section {name!r}")


def load_sections(names: Iterable[str], root: Path = REAL_TEXT_DIR) -> dict[str, list[Sentence]]:
    return {name: load_section(name, root) for name in names}


def token_types(sentences: list[Sentence], detect: Callable[[str], list[tuple[int, int, str]]]
                ) -> tuple[list[str], list[str]]:
    """(gold type, predicted type) of every token of the project's tokenizer (`ner.tokenize`) in the rebuilt
    texts, "O" for none; a token's gold type is that of the source token it lies in, its predicted type that of
    the first predicted span overlapping it (the convention of benchmarks/pii.py)."""
    gold, predicted = [], []
    for sentence in sentences:
        spans = detect(sentence.text)
        source = iter(zip(sentence.tokens, sentence.labels))
        (start, end), label = next(source)
        for token in tokenize(sentence.text):
            while token.start >= end:
                (start, end), label = next(source)
            gold.append(label)
            predicted.append(next((t for s, e, t in spans if token.start < e and token.end > s), "O"))
    return gold, predicted


def prf(gold: list[str], predicted: list[str], kind: str) -> tuple[float, float, float]:
    """Token-level precision, recall and F2 of one type (a token found with another type counts against both)."""
    tp = sum(g == kind and p == kind for g, p in zip(gold, predicted))
    n_predicted = sum(p == kind for p in predicted)
    n_gold = sum(g == kind for g in gold)
    precision = tp / n_predicted if n_predicted else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f2 = 5 * precision * recall / (4 * precision + recall) if precision + recall else 0.0
    return precision, recall, f2


def real_text_scores(detect, sections: Iterable[str] = HELD_OUT_SECTIONS, root: Path = REAL_TEXT_DIR
                     ) -> dict[str, dict[str, tuple[float, float, float]]]:
    """Per section (and "overall", all sections' tokens together): per type, (precision, recall, F2).
    `detect` is a function text -> [(start, end, type)] or an object with a `spans` method (the tagger)."""
    detect = getattr(detect, "spans", detect)
    scores: dict[str, dict[str, tuple[float, float, float]]] = {}
    all_gold: list[str] = []
    all_predicted: list[str] = []
    for name in sections:
        gold, predicted = token_types(load_section(name, root), detect)
        scores[name] = {kind: prf(gold, predicted, kind) for kind in ENTITY_TYPES}
        all_gold += gold
        all_predicted += predicted
    scores["overall"] = {kind: prf(all_gold, all_predicted, kind) for kind in ENTITY_TYPES}
    return scores


def tagger_rows(sentences: list[Sentence], lower: bool = False) -> list[tuple[list[str], list[str]]]:
    """(words, labels) per sentence for training the tagger: the words are `ner.tokenize`'s tokens of the text,
    each labelled as the source token it lies in; `lower`: the text lower-cased (a case-free variant)."""
    rows = []
    for sentence in sentences:
        gold, _ = token_types([sentence], lambda text: [])
        text = sentence.text.lower() if lower else sentence.text
        words = [t.text for t in tokenize(text)]
        if len(words) != len(gold):
            continue  # lower-casing changed the tokens (rare letters): skip the variant
        rows.append((words, gold))
    return rows
