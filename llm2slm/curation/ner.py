"""A fast offline tagger for names, locations and organisations: a linear model over hashed token features.

Each token is described by a few dozen string features (its lower-cased form, shape, prefixes and suffixes, the
words and shapes around it, whether it is a common word or a known first or last name), each hashed with CRC32 into a
fixed number of buckets. A token's label scores are the
sum of the weight rows of its buckets plus a bias; a second pass adds the first pass's labels of the neighbouring
tokens as features, so that a name's parts agree. Tokens with the same label and nothing but spaces or hyphens
between them become one span. An account handle ("@jdoe", "@Real_Name") is always a span: the model's type for
the word after the "@", PERSON when the model says O; a "#" glued to a found word joins its span. Inference needs
only numpy; `scripts/train_ner.py` fits the weights (scikit-learn).

Labels: O (not personal data), PERSON, LOCATION (places and street addresses), ORGANIZATION.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LABELS: tuple[str, ...] = ("O", "PERSON", "LOCATION", "ORGANIZATION")
TOKEN_RE = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")
_SHAPE_RUNS = re.compile(r"(.)\1{2,}")
_JOINERS = re.compile(r"^[ \t\-]*$")  # what may separate two tokens of one span
# Format and banking words that look like acronyms or names but never identify anyone.
NEVER_ENTITIES = frozenset({"JSON", "XML", "HTML", "CSV", "PDF", "API", "URL", "SQL", "HTTP", "HTTPS", "SMS", "PIN",
                            "ATM", "ID", "OK", "FAQ", "AI", "IBAN", "SWIFT", "ISO", "UTC", "GMT", "AM", "PM",
                            "BEARER"})
# Days and months name dates, not people or places ("Friday", "September 20"): a date is not identifying alone.
CALENDAR_WORDS = frozenset({"MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY", "JANUARY",
                            "FEBRUARY", "MARCH", "APRIL", "JUNE", "JULY", "AUGUST", "SEPTEMBER", "OCTOBER",
                            "NOVEMBER", "DECEMBER", "TODAY", "TOMORROW", "TONIGHT", "MON", "TUE", "TUES", "WED",
                            "THU", "THUR", "THURS", "FRI", "SAT", "SUN", "JAN", "FEB", "MAR", "APR", "JUN", "JUL",
                            "AUG", "SEP", "SEPT", "OCT", "NOV", "DEC"})


@dataclass(frozen=True)
class Token:
    text: str
    start: int  # character offset of the first character
    end: int  # character offset after the last character


def tokenize(text: str) -> list[Token]:
    return [Token(m.group(0), m.start(), m.end()) for m in TOKEN_RE.finditer(text)]


def shape(word: str) -> str:
    """Xxxx-style shape with runs of 3+ identical classes cut to 3 characters (Xxxxxxx -> Xxxx... -> Xxxx)."""
    mapped = "".join("X" if c.isupper() else "x" if c.isalpha() else "d" if c.isdigit() else c for c in word)
    return _SHAPE_RUNS.sub(r"\1\1\1", mapped)


# Atoms: per-word hashes that the features combine. Column of each atom in a word's atom row:
LOW, SHAPE, P2, P3, X2, X3, X4, LENGTH, TRI = range(9)
N_TRIGRAMS = 6  # inner character trigrams of a word kept as atoms (missing ones hash "-")
LEX = TRI + N_TRIGRAMS  # 1 when the lower-cased word is a common word (the model's lexicon), else 0
NAME = LEX + 1  # 1 when the lower-cased word is a known first or last name (the model's name list), else 0
ZERO = NAME + 1  # a column of zeros (single-part features)
FIRST = ZERO + 1  # 1 on the first token of the text
_MASK32 = np.uint64(0xFFFFFFFF)
_PRIME = np.uint64(0x01000193)
_SHIFT = np.uint64(15)


def _crc(text: str) -> int:
    return zlib.crc32(text.encode())


def word_atoms(word: str, lexicon: frozenset[str] = frozenset(), names: frozenset[str] = frozenset()
               ) -> tuple[int, ...]:
    low = word.lower()
    padded = f"<{low}>"
    trigrams = [padded[k:k + 3] for k in range(1, len(padded) - 3)][:N_TRIGRAMS]
    trigrams += ["-"] * (N_TRIGRAMS - len(trigrams))
    return (_crc(low), _crc(shape(word)), _crc(low[:2]), _crc(low[:3]), _crc(low[-2:]), _crc(low[-3:]),
            _crc(low[-4:]), min(len(word), 12), *(_crc(t) for t in trigrams), int(low in lexicon), int(low in names), 0,
            0)


_EDGE = word_atoms("\x00")  # the atoms of the positions before the first and after the last token


class AtomCache:
    """Word -> atoms, bounded (cleared when full): most words of a traffic stream repeat."""

    def __init__(self, lexicon: frozenset[str] = frozenset(), limit: int = 200_000,
                 names: frozenset[str] = frozenset()) -> None:
        self.lexicon, self.limit, self.names = lexicon, limit, names
        self.table: dict[str, tuple[int, ...]] = {}

    def __call__(self, word: str) -> tuple[int, ...]:
        found = self.table.get(word)
        if found is None:
            if len(self.table) >= self.limit:
                self.table.clear()
            found = self.table[word] = word_atoms(word, self.lexicon, self.names)
        return found


def _spec(features: list[tuple[int, int, int, int]]) -> tuple[np.ndarray, ...]:
    """Feature table: (offset, column) of two parts per feature; its role number is its index."""
    table = np.array(features, dtype=np.int64)
    roles = (np.arange(len(features), dtype=np.uint64) + np.uint64(7)) * np.uint64(0x9E3779B1) & _MASK32
    return table[:, 0], table[:, 1], table[:, 2], table[:, 3], roles


# Token features as (offset of part 1, atom column of part 1, offset of part 2, atom column of part 2).
_TOKEN_FEATURES = _spec(
    [(0, ZERO, 0, ZERO)]  # bias
    + [(0, k, 0, ZERO) for k in range(ZERO)]  # the word's own atoms
    + [(0, LEX, 0, SHAPE), (0, LEX, 0, FIRST), (-1, LEX, 0, ZERO), (1, LEX, 0, ZERO), (-1, LEX, 0, LEX),
       (0, LEX, 1, LEX), (-1, LOW, 0, LEX), (0, LEX, 1, LOW)]
    + [(-1, LOW, 0, ZERO), (-2, LOW, 0, ZERO), (1, LOW, 0, ZERO), (2, LOW, 0, ZERO), (-1, SHAPE, 0, ZERO),
       (1, SHAPE, 0, ZERO), (-1, SHAPE, 0, SHAPE), (0, SHAPE, 1, SHAPE), (-1, LOW, 0, SHAPE), (0, SHAPE, 1, LOW),
       (-2, LOW, -1, LOW), (1, LOW, 2, LOW), (-2, SHAPE, -1, SHAPE), (1, SHAPE, 2, SHAPE), (0, FIRST, 0, SHAPE),
       (-1, SHAPE, 0, LOW)]
    + [(0, NAME, 0, SHAPE), (-1, NAME, 0, ZERO), (1, NAME, 0, ZERO), (-1, NAME, 0, NAME), (0, NAME, 1, NAME),
       (0, NAME, 0, LEX)]
)
# Second-pass features over the first pass's labels (column 0 of a one-column table).
_CONTEXT_FEATURES = _spec([(-1, 0, 0, 1), (1, 0, 0, 1), (-1, 0, 1, 0), (-2, 0, 0, 1), (2, 0, 0, 1)])


def _hashed(table: np.ndarray, spec: tuple[np.ndarray, ...], buckets: int) -> np.ndarray:
    """Bucket ids (tokens x features) of `table`, padded with 2 edge rows on each side."""
    dx1, col1, dx2, col2, roles = spec
    positions = np.arange(2, table.shape[0] - 2)[:, None]
    value = roles[None, :]
    for dx, col in ((dx1, col1), (dx2, col2)):
        part = table[positions + dx[None, :], col[None, :]]
        value = ((value ^ part) * _PRIME) & _MASK32
        value = value ^ (value >> _SHIFT)
    return (value % np.uint64(buckets)).astype(np.int64)


def feature_ids(atoms: np.ndarray, buckets: int) -> np.ndarray:
    """Bucket ids (tokens x features) from the atom rows of a text (see `sentence_atoms`)."""
    return _hashed(atoms, _TOKEN_FEATURES, buckets)


def context_ids(labels: np.ndarray, buckets: int) -> np.ndarray:
    """Second-pass bucket ids from the first pass's labels (edges count as label 9; column 1 is all zeros)."""
    padded = np.concatenate([[9, 9], labels, [9, 9]]).astype(np.uint64)
    table = np.stack([padded, np.zeros_like(padded)], axis=1)
    return _hashed(table, _CONTEXT_FEATURES, buckets)


def sentence_atoms(words: list[str], cache: AtomCache) -> np.ndarray:
    """Atom rows of the words with 2 edge rows on each side; FIRST set on the first word."""
    atoms = np.array([_EDGE, _EDGE, *(cache(w) for w in words), _EDGE, _EDGE], dtype=np.uint64)
    atoms[2, FIRST] = 1
    return atoms


@dataclass
class HashedTagger:
    """Two linear passes over hashed features; `weights[p]` has one row per bucket and one column per label."""

    weights: tuple[np.ndarray, np.ndarray]
    bias: tuple[np.ndarray, np.ndarray]
    buckets: int
    labels: tuple[str, ...] = LABELS
    lexicon: frozenset[str] = frozenset()  # common lower-case words (a model feature)
    common: frozenset[str] = frozenset()  # a larger list of common words, for the sentence-start rule only
    names: frozenset[str] = frozenset()  # lower-case first and last names (a model feature)

    def __post_init__(self) -> None:
        self.cache = AtomCache(self.lexicon, names=self.names)
        self.o_offset = 0.0  # added to the O score: below 0 trades precision for recall
        self.person_offset = 0.0  # added to the PERSON score: above 0 favours PERSON over the other types too

    def _scores(self, ids: np.ndarray, pass_index: int) -> np.ndarray:
        scores = self.weights[pass_index][ids].sum(axis=1) + self.bias[pass_index]
        scores[:, 0] += self.o_offset
        scores[:, self.labels.index("PERSON")] += self.person_offset
        return scores

    def predict_words(self, words: list[str]) -> list[int]:
        if not words:
            return []
        base = feature_ids(sentence_atoms(words, self.cache), self.buckets)
        first = self._scores(base, 0).argmax(axis=1)
        if not first.any():
            return first.tolist()  # nothing found: the second pass only refines found spans
        ids = np.concatenate([base, context_ids(first, self.buckets)], axis=1)
        return self._scores(ids, 1).argmax(axis=1).tolist()

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, label) of every entity found in `text`; character offsets. See `keep_span` for the
        rules applied after the model."""
        tokens = tokenize(text)
        labels = self.predict_words([t.text for t in tokens])
        handles = mark_handles(text, tokens, labels, self.labels.index("PERSON"))
        found: list[tuple[int, int, str]] = []
        count: list[int] = []  # tokens per span
        worded: list[bool] = []  # the span holds a word of two letters or more without digits
        numbered: list[bool] = []  # the span holds a token with a digit
        for token, label, handle in zip(tokens, labels, handles):
            word = token.text.upper()
            if label == 0 or (not handle and ("_" in word or word in NEVER_ENTITIES or word in CALENDAR_WORDS)):
                continue
            name = self.labels[label]
            digits = any(c.isdigit() for c in word)
            wordlike = handle or (not digits and sum(c.isalpha() for c in word) >= 2)
            if digits and name != "LOCATION" and not handle:
                continue  # "9 people", "7pm", "B2": never a name; house numbers and postcodes are places
            if found and found[-1][2] == name and _JOINERS.match(text[found[-1][1]:token.start]):
                found[-1] = (found[-1][0], token.end, name)
                count[-1] += 1
                worded[-1] = worded[-1] or wordlike
                numbered[-1] = numbered[-1] or digits
            else:
                found.append((token.start, token.end, name))
                count.append(1)
                worded.append(wordlike)
                numbered.append(digits)
        # numbers with nothing but punctuation and single letters are a time, a count, a code or a coordinate
        # ("33.4484 N"), not a place
        return [span for span, n, w, d in zip(found, count, worded, numbered)
                if (w or not d) and self.keep_span(text, span, n)]

    def keep_span(self, text: str, span: tuple[int, int, str], n_tokens: int) -> bool:
        """Rules after the model: a span needs two characters and an upper-case letter, unless it is an account
        handle ("@jdoe"), and one common word (lexicon) at the start of a sentence is a capitalised word, not a
        name ("Reply with ...")."""
        value = text[span[0]:span[1]]
        if len(value) < 2 or not (any(c.isupper() for c in value) or (value[0] == "@" and len(value.split()) == 1
                                                                       and any(c.isalpha() for c in value))):
            return False
        if n_tokens == 1 and (value.lower() in self.lexicon or value.lower() in self.common):
            before = text[:span[0]].rstrip()
            return bool(before) and before[-1] not in ".!?:;\n\"'(-"
        return True

    def save(self, path: Path, metadata: dict) -> None:
        """Weights as float16 in a compressed npz with fixed timestamps (same weights, same bytes)."""
        meta = json.dumps({**metadata, "buckets": self.buckets, "labels": list(self.labels),
                           "o_offset": self.o_offset, "person_offset": self.person_offset}, sort_keys=True)
        arrays = {"w0": self.weights[0].astype(np.float16), "w1": self.weights[1].astype(np.float16),
                  "b0": self.bias[0].astype(np.float32), "b1": self.bias[1].astype(np.float32),
                  "meta": np.array(meta), "lexicon": np.array("\n".join(sorted(self.lexicon))),
                  "common": np.array("\n".join(sorted(self.common))),
                  "names": np.array("\n".join(sorted(self.names)))}
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, array in arrays.items():
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, array, allow_pickle=False)
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, buffer.getvalue())

    @classmethod
    def load(cls, path: Path) -> "HashedTagger":
        if not Path(path).is_file():
            raise FileNotFoundError(f"NER model {path} not found: build it with `python scripts/train_ner.py`")
        with np.load(path) as data:
            meta = json.loads(str(data["meta"]))
            tagger = cls(weights=(data["w0"].astype(np.float32), data["w1"].astype(np.float32)),
                         bias=(data["b0"], data["b1"]), buckets=int(meta["buckets"]), labels=tuple(meta["labels"]),
                         lexicon=frozenset(str(data["lexicon"]).split("\n")) if "lexicon" in data else frozenset(),
                         common=frozenset(str(data["common"]).split("\n")) if "common" in data else frozenset(),
                         names=frozenset(str(data["names"]).split("\n")) if "names" in data else frozenset())
        tagger.o_offset = float(meta.get("o_offset", 0.0))
        tagger.person_offset = float(meta.get("person_offset", 0.0))
        return tagger


def mark_handles(text: str, tokens: list[Token], labels: list[int], person: int) -> list[bool]:
    """Which tokens are part of an account handle or a hashtag the model found; rewrites `labels` in place.

    A word glued to the "@" before it (and the "@" not glued to a word before it, as in an email address) is a
    handle: it keeps the model's type, or becomes PERSON where the model says O, and the "@"
    takes its type. A "#" glued to a word the model found takes that word's type ("#JohnSmith")."""
    handles = [False] * len(tokens)
    for k in range(1, len(tokens)):
        marker, word = tokens[k - 1], tokens[k]
        if marker.text not in ("@", "#") or word.start != marker.end or not word.text[0].isalnum():
            continue
        if marker.text == "#":
            if labels[k]:
                labels[k - 1] = labels[k]
            continue
        if k >= 2 and tokens[k - 2].end == marker.start and tokens[k - 2].text[-1].isalnum():
            continue  # name@example: an email address
        labels[k] = labels[k] or person
        labels[k - 1] = labels[k]
        handles[k - 1] = handles[k] = True
    return handles


def read_metadata(path: Path) -> dict:
    with np.load(path) as data:
        return json.loads(str(data["meta"]))


DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "ner_tagger.npz"


def model_fingerprint(path: Path | None = None) -> str:
    """`<file name> sha256:<first 16 hex digits>` of the tagger weights (default: the packaged model)."""
    path = Path(path or DEFAULT_MODEL)
    return f"{path.name} sha256:{hashlib.sha256(path.read_bytes()).hexdigest()[:16]}"
