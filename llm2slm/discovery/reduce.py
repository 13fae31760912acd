"""Reduce the embeddings with UMAP, find dense groups with HDBSCAN, and give outliers a second chance.

Outliers (HDBSCAN label -1) join the nearest cluster when they lie within that cluster's own reach: the given
quantile (95th percentile by default) of its members' distances to its centroid in UMAP space. Their probability
is then 1 - distance / reach; calls that stay outliers keep label -1 and probability 0. A budget caps the share
of calls left as outliers at the end: beyond it, the outliers nearest a cluster (relative to its reach) join it.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

from llm2slm.common.stats import percentile

log = logging.getLogger("llm2slm.cluster")

MIN_CLUSTER_FLOOR = 10


def min_cluster_size_for(n: int, fraction: float) -> int:
    """HDBSCAN's min_cluster_size: the fraction of the calls, never under 10."""
    return max(MIN_CLUSTER_FLOOR, round(fraction * n))


def too_few_to_cluster(n: int, min_cluster_size: int, neighbors: int) -> bool:
    """Fewer calls than two clusters' worth, or than UMAP needs for its neighbourhoods."""
    return n < 2 * min_cluster_size or n < neighbors + 2


def fit_rows(n: int, fit_max: int, seed: int) -> np.ndarray:
    """Rows UMAP is fitted on: all of them, or a seeded sample of `fit_max` rows (sorted)."""
    if n <= fit_max:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=fit_max, replace=False))


def umap_reduce(embeddings: np.ndarray, components: int, neighbors: int, seed: int,
                fit_max: int | None = None) -> np.ndarray:
    """UMAP (cosine, min_dist 0) to `components` dims; deterministic for a seed (UMAP then runs single-threaded).

    With more than `fit_max` rows, UMAP is fitted on a seeded sample of `fit_max` rows and the others are placed
    in the fitted map with `transform` (several times faster than fitting on every row).
    """
    import umap

    n = embeddings.shape[0]
    neighbors = max(2, min(neighbors, n - 1))
    reducer = umap.UMAP(n_components=components, n_neighbors=neighbors, min_dist=0.0, metric="cosine",
                        random_state=seed, n_jobs=1)
    rows = fit_rows(n, fit_max or n, seed)
    log.info("reducing %d embeddings to %d dimensions with UMAP (fitted on %d; the first fit in a process "
             "compiles for 15-40 s)", n, components, len(rows))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs value 1 overridden.*")
        warnings.filterwarnings("ignore", message=".*random_state.*")
        warnings.filterwarnings("ignore", category=FutureWarning)
        fitted = reducer.fit_transform(embeddings[rows])
        if len(rows) == n:
            return np.asarray(fitted, dtype=np.float64)
        rest = np.setdiff1d(np.arange(n), rows)
        log.info("UMAP fitted on %d of %d calls; placing the other %d with transform", len(rows), n, len(rest))
        points = np.zeros((n, components), dtype=np.float64)
        points[rows] = fitted
        points[rest] = reducer.transform(embeddings[rest])
    return points


def hdbscan_labels(points: np.ndarray, min_cluster_size: int, min_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """HDBSCAN labels (-1 = outlier) and membership probabilities."""
    import hdbscan

    model = hdbscan.HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min(min_samples, min_cluster_size),
                            core_dist_n_jobs=1)
    labels = model.fit_predict(points)
    return labels.astype(np.int64), np.asarray(model.probabilities_, dtype=np.float64)


def centroids_and_reach(points: np.ndarray, labels: np.ndarray,
                        quantile: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cluster labels, centroids, reach): reach is the quantile of the members' distances to their centroid."""
    clusters = np.unique(labels[labels >= 0])
    centroids = np.zeros((len(clusters), points.shape[1]))
    reach = np.zeros(len(clusters))
    for row, label in enumerate(clusters):
        members = points[labels == label]
        centroids[row] = members.mean(axis=0)
        reach[row] = percentile(np.linalg.norm(members - centroids[row], axis=1), 100 * quantile)
    return clusters, centroids, reach


def reassign_outliers(points: np.ndarray, labels: np.ndarray, probabilities: np.ndarray,
                      quantile: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Each outlier joins its nearest centroid's cluster when within that cluster's reach; returns new arrays."""
    labels, probabilities = labels.copy(), probabilities.copy()
    outliers = np.flatnonzero(labels < 0)
    if len(outliers) == 0 or not np.any(labels >= 0):
        return labels, probabilities
    clusters, centroids, reach = centroids_and_reach(points, labels, quantile)
    distances = np.linalg.norm(points[outliers, None, :] - centroids[None, :, :], axis=2)
    nearest = distances.argmin(axis=1)
    best = distances[np.arange(len(outliers)), nearest]
    inside = best <= reach[nearest]
    labels[outliers[inside]] = clusters[nearest[inside]]
    safe_reach = np.maximum(reach[nearest[inside]], 1e-12)
    probabilities[outliers[inside]] = np.clip(1.0 - best[inside] / safe_reach, 0.0, 1.0)
    log.info("outliers: %d of %d calls; %d rejoined the nearest cluster (within its %d%% reach), %d stay outliers",
             len(outliers), len(labels), int(inside.sum()), round(quantile * 100), int((~inside).sum()))
    return labels, probabilities


def enforce_outlier_budget(points: np.ndarray, labels: np.ndarray, probabilities: np.ndarray,
                           budget: float) -> tuple[np.ndarray, np.ndarray]:
    """When more than `budget` (a share of the calls) are outliers, the outliers nearest a cluster (distance to its
    centroid over its reach, in UMAP space) join it until the budget holds; their probability is reach / (2 x
    distance), under 0.5. Returns new arrays."""
    labels, probabilities = labels.copy(), probabilities.copy()
    outliers = np.flatnonzero(labels < 0)
    allowed = int(np.floor(budget * len(labels)))
    if len(outliers) <= allowed or not np.any(labels >= 0):
        return labels, probabilities
    clusters, centroids, reach = centroids_and_reach(points, labels)
    distances = np.linalg.norm(points[outliers, None, :] - centroids[None, :, :], axis=2)
    ratio = distances / np.maximum(reach, 1e-12)[None, :]
    nearest = ratio.argmin(axis=1)
    best = ratio[np.arange(len(outliers)), nearest]
    joining = np.lexsort((outliers, best))[:len(outliers) - allowed]
    labels[outliers[joining]] = clusters[nearest[joining]]
    probabilities[outliers[joining]] = np.clip(0.5 / np.maximum(best[joining], 1.0), 0.0, 0.5)
    log.info("outlier budget %.1f%%: %d outliers over the %d allowed joined their nearest cluster", budget * 100,
             len(joining), allowed)
    return labels, probabilities
