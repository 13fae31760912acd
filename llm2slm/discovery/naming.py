"""Name each task from what its users ask: class-based TF-IDF keywords, plus the calls nearest its centre.

c-TF-IDF treats all user messages of one task as one document: a word scores high when it is frequent in this
task and rare across the others (term share in the class x log(1 + average words per class / word's total count)).
"""

from __future__ import annotations

import numpy as np

TOKEN_PATTERN = r"(?u)\b[^\W\d_]{2,}\b"  # words of two letters or more: no numbers or <PLACEHOLDER_1> tokens
EXEMPLAR_CHARS = 240


def ctfidf_keywords(documents: list[str], top: int) -> list[list[str]]:
    """The `top` keywords of each document (one document per task), best first; ties broken alphabetically."""
    from sklearn.feature_extraction.text import CountVectorizer

    if not documents:
        return []
    vectorizer = CountVectorizer(stop_words="english", token_pattern=TOKEN_PATTERN, lowercase=True)
    try:
        counts = vectorizer.fit_transform(documents).toarray().astype(np.float64)
    except ValueError:  # no word at all survives the stop list
        return [[] for _ in documents]
    vocabulary = vectorizer.get_feature_names_out()
    per_class = counts.sum(axis=1, keepdims=True)
    term_share = np.divide(counts, per_class, out=np.zeros_like(counts), where=per_class > 0)
    average_words = counts.sum() / len(documents)
    idf = np.log1p(average_words / np.maximum(counts.sum(axis=0), 1.0))
    scores = term_share * idf
    keywords = []
    for row in scores:
        ranked = sorted((i for i in np.flatnonzero(row > 0)), key=lambda i: (-row[i], vocabulary[i]))
        keywords.append([str(vocabulary[i]) for i in ranked[:top]])
    return keywords


def task_name(keywords: list[str], fallback: str) -> str:
    return "-".join(keywords[:3]) if keywords else fallback


def exemplar_rows(vectors: np.ndarray, members: np.ndarray, k: int = 3, texts: list[str] | None = None) -> list[int]:
    """Row numbers of the `k` members closest to the members' centroid (ties by row number), skipping a member
    whose text (when `texts` is given) repeats one already chosen."""
    if len(members) == 0:
        return []
    centroid = vectors[members].mean(axis=0)
    distances = np.linalg.norm(vectors[members] - centroid, axis=1)
    chosen: list[int] = []
    seen: set[str] = set()
    for i in np.lexsort((members, distances)):
        row = int(members[i])
        if texts is not None:
            if texts[row] in seen:
                continue
            seen.add(texts[row])
        chosen.append(row)
        if len(chosen) == k:
            break
    return chosen


def shorten(text: str, chars: int = EXEMPLAR_CHARS) -> str:
    return text if len(text) <= chars else text[:chars - 1].rstrip() + "…"
