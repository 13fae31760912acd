"""A specialist's text replies against the LLM's, one figure per (reply, reference) pair, each in [0, 1].

- ROUGE-L F-measure (rouge-score, no stemming): longest common word subsequence.
- Text similarity: cosine similarity of the two replies' sentence embeddings, by the project's own embedder
  (the packaged MiniLM of `llm2slm.discovery.embed`, loaded offline), clipped to [0, 1]. The embedder is fixed, not
  a setting, so that the figure of two runs compares.
"""

from __future__ import annotations

from collections.abc import Sequence


def mean(values: Sequence[float]) -> float:
    """The mean, 0.0 for no value."""
    return sum(values) / len(values) if values else 0.0


def rouge_l_scores(predicted: Sequence[str], reference: Sequence[str]) -> list[float]:
    """ROUGE-L F per pair, in order."""
    import logging

    from rouge_score import rouge_scorer

    logging.getLogger("absl").setLevel(logging.WARNING)  # "Using default tokenizer." on every scorer, to the screen
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    return [scorer.score(ref, pred)["rougeL"].fmeasure for pred, ref in zip(predicted, reference, strict=True)]


def similarity_scores(predicted: Sequence[str], reference: Sequence[str]) -> list[float]:
    """Cosine similarity of each pair's sentence embeddings, in order, clipped to [0, 1] (a negative cosine is as
    unlike as 0). Each distinct text is embedded once."""
    if len(predicted) != len(reference):
        raise ValueError(f"{len(predicted)} predictions for {len(reference)} references")
    if not reference:
        return []
    from llm2slm.discovery.embed import embed_texts

    distinct = sorted(set(predicted) | set(reference))
    vectors = embed_texts(distinct, progress=False)  # unit length: the dot product is the cosine
    index = {text: i for i, text in enumerate(distinct)}
    scores = []
    for pred, ref in zip(predicted, reference, strict=True):
        cosine = 1.0 if pred == ref else float(vectors[index[pred]] @ vectors[index[ref]])  # float32 rounding
        scores.append(min(1.0, max(0.0, cosine)))
    return scores
