"""Sentence embeddings of the calls' texts (MiniLM by default, loaded from its Python package: no download)."""

from __future__ import annotations

import logging
import sys
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from tqdm.auto import tqdm

from llm2slm.common.packaged import MINILM, resolve_model

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger("llm2slm.cluster")

PACKAGED_MODEL = MINILM
BATCH_SIZE = 64


def model_location(name: str) -> str:
    """The packaged MiniLM's folder for the default name; any other name is a sentence-transformers id or path."""
    return resolve_model(name)


@lru_cache(maxsize=2)
def load_encoder(name: str = PACKAGED_MODEL) -> SentenceTransformer:
    """Load (once per process) the sentence encoder on the CPU."""
    from sentence_transformers import SentenceTransformer

    location = model_location(name)
    log.info("loading the sentence encoder %s from %s", name, location)
    return SentenceTransformer(location, device="cpu")


def embed_texts(texts: list[str], model: str = PACKAGED_MODEL, batch_size: int = BATCH_SIZE,
                progress: bool = True) -> np.ndarray:
    """Unit-length embeddings, one row per text, in the order given.

    Texts are encoded in batches of similar length (less padding) under a tqdm progress bar.
    """
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    encoder = load_encoder(model)
    order = sorted(range(len(texts)), key=lambda i: (len(texts[i]), i))
    out: np.ndarray | None = None
    refresh_s = 0.1 if sys.stderr.isatty() else 10.0  # a log file gets a line every 10 s, a terminal one bar
    with tqdm(total=len(texts), desc="embedding calls", unit="call", disable=not progress,
              mininterval=refresh_s) as bar:
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            vectors = encoder.encode([texts[i] for i in rows], batch_size=batch_size, normalize_embeddings=True,
                                     convert_to_numpy=True, show_progress_bar=False)
            if out is None:
                out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
            out[rows] = vectors
            bar.update(len(rows))
    assert out is not None
    return out


def embed_calls(shapes: list[str], contents: list[str], model: str = PACKAGED_MODEL,
                batch_size: int = BATCH_SIZE, progress: bool = True) -> np.ndarray:
    """Unit-length vectors of calls given as (shape, content) text pairs: the sum of the two halves' embeddings.

    An agent sends the same system prompt with every call of a sub-task, so the shapes repeat: each distinct
    shape is embedded once, and so is each distinct (short) content. This is several times faster than
    embedding the joined text of every call, and gives the shape and the content equal weight.
    """
    if len(shapes) != len(contents):
        raise ValueError(f"{len(shapes)} shapes for {len(contents)} contents")
    if not contents:
        return np.zeros((0, 0), dtype=np.float32)
    distinct = sorted(set(shapes))
    shape_vectors = embed_texts(distinct, model, batch_size, progress=False)
    index = {text: i for i, text in enumerate(distinct)}
    distinct_contents = sorted(set(contents))
    content_vectors = embed_texts(distinct_contents, model, batch_size, progress=progress)
    content_index = {text: i for i, text in enumerate(distinct_contents)}
    log.info("embedding %d distinct contents and %d distinct shapes for %d calls", len(distinct_contents),
             len(distinct), len(contents))
    vectors = content_vectors[[content_index[c] for c in contents]]
    has_shape = np.array([bool(s) for s in shapes])
    vectors[has_shape] += shape_vectors[[index[s] for s in shapes if s]]
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-12)
    return vectors.astype(np.float32)
