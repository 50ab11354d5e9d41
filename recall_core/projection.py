"""2-D maps of embeddings (UMAP), cached on disk next to the model they come from."""
from __future__ import annotations

import hashlib
import io
import threading
import warnings
from pathlib import Path

import numpy as np

from .artifacts import atomic_write_bytes


_PREWARMED: threading.Thread | None = None
_PREWARM_LOCK = threading.Lock()


def prewarm_umap(metric: str = "cosine") -> threading.Thread:
    """Compile UMAP's numba code in a background thread, once per process.

    The first UMAP fit of a process compiles its layout code (about 4 s; a later fit of 1.5k vectors: about
    1 s), or loads it from numba's disk cache (:func:`_umap`). Started when a model that needs a map begins
    training (``methods.load_or_train``), the loading overlaps the training instead of delaying the first map
    (issue 13 §1: the two-tower page within 20 s). The neighbours are computed by :func:`nearest_neighbours`, not by
    numba, so one compilation serves every metric; ``metric`` is accepted for the callers' sake."""
    global _PREWARMED
    with _PREWARM_LOCK:
        if _PREWARMED is None:
            sample = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)
            _PREWARMED = threading.Thread(target=umap_2d, args=(sample, 0, metric), daemon=True,
                                          name="recall-lab-umap-prewarm")
            _PREWARMED.start()
        return _PREWARMED


_UMAP = None


def _umap():
    """The ``umap`` module, with its numba functions' compiled code cached on disk.

    umap-learn compiles its layout code on the first fit of every process (about 4 s of one core; issue 13). Each
    model now trains in a process of its own (``recall_core.train_process``), so that was paid once per model.
    numba can keep what it compiles beside the source (or in its user cache when that is not writable):
    ``enable_caching`` on umap's jitted functions is what their ``cache=True`` would do, and a later process
    loads the code in about 0.1 s (a fresh process's first map of 1,447 vectors: 5.6 s -> 1.2 s). If
    caching cannot be set up, they compile as before."""
    global _UMAP
    if _UMAP is None:
        import umap  # imported lazily: numba compilation is slow and only maps need it
        import umap.distances
        import umap.layouts
        import umap.spectral
        import umap.umap_
        import umap.utils

        try:
            from numba.core.caching import NullCache
            from numba.core.registry import CPUDispatcher

            for module in (umap.umap_, umap.layouts, umap.spectral, umap.utils, umap.distances):
                for fn in vars(module).values():
                    if isinstance(fn, CPUDispatcher) and isinstance(fn._cache, NullCache):  # not cached yet
                        fn.enable_caching()
        except Exception:  # noqa: BLE001 -- an optimisation: without it umap compiles as before
            pass
        _UMAP = umap
    return _UMAP


METRICS = ("cosine", "euclidean")


def nearest_neighbours(vectors: np.ndarray, k: int, metric: str = "cosine",
                       chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours of every row, itself first: (indices [n, k] int32, distances [n, k] float32).

    The kNN graph is UMAP's first step (McInnes et al. 2018, Sec. 3.1); UMAP computes it exactly below 4,096
    points too, but through numba-compiled distance code that cost ~10 s of compilation per metric and process
    (issue 13). A blocked matrix product does the same in well under a second at 10k vectors. Cosine distance
    is 1 - cos (zero vectors are at distance 1 from everything), euclidean the L2 distance."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    x = np.asarray(vectors, dtype=np.float32)
    n = len(x)
    k = min(k, n)
    if k < 1:
        raise ValueError(f"k must be >= 1 and there must be a vector, got k={k} for {n} vectors")
    if metric == "cosine":
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        x = x / np.where(norms > 0, norms, 1.0)
    squares = (x * x).sum(1)
    indices = np.empty((n, k), dtype=np.int32)
    distances = np.empty((n, k), dtype=np.float32)
    for start in range(0, n, chunk):
        rows = slice(start, min(start + chunk, n))
        product = x[rows] @ x.T
        if metric == "cosine":
            dist = 1.0 - product
        else:
            dist = np.sqrt(np.maximum(squares[rows, None] + squares[None, :] - 2.0 * product, 0.0))
        own = np.arange(rows.start, rows.stop)
        dist[own - rows.start, own] = -np.inf  # each point is its own first neighbour, as in UMAP
        part = np.argpartition(dist, k - 1, axis=1)[:, :k]
        order = np.argsort(np.take_along_axis(dist, part, 1), axis=1, kind="stable")
        idx = np.take_along_axis(part, order, 1)
        indices[rows] = idx
        distances[rows] = np.take_along_axis(dist, idx, 1)
        distances[rows, 0] = 0.0
    return indices, distances


def umap_2d(vectors: np.ndarray, seed: int = 0, metric: str = "cosine", n_neighbors: int = 15) -> np.ndarray:
    """UMAP's 2-D layout of ``vectors`` over their exact kNN graph (:func:`nearest_neighbours`)."""
    umap = _umap()
    vectors = np.asarray(vectors, dtype=np.float32)
    k = min(n_neighbors, len(vectors) - 1)
    knn_indices, knn_distances = nearest_neighbours(vectors, k, metric)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reducer = umap.UMAP(n_components=2, metric=metric, n_neighbors=k, random_state=seed,
                            init="random" if len(vectors) < 8 else "spectral",
                            precomputed_knn=(knn_indices, knn_distances, None))
        return reducer.fit_transform(vectors).astype(np.float32)


def cached_umap(path: Path, vectors: np.ndarray, seed: int = 0, metric: str = "cosine") -> np.ndarray:
    """UMAP of ``vectors``; recomputed only when the vectors change (keyed by their hash)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    key = hashlib.sha1(vectors.tobytes() + f"{seed}{metric}".encode()).hexdigest()
    try:
        with np.load(path, allow_pickle=False) as cached:
            if str(cached["key"]) == key:
                return cached["coords"]
    except (OSError, ValueError, KeyError):
        pass
    coords = umap_2d(vectors, seed, metric)
    buf = io.BytesIO()
    np.savez(buf, key=np.array(key), coords=coords)
    atomic_write_bytes(path, lambda fh: fh.write(buf.getvalue()))
    return coords


def place_among(item_xy: np.ndarray, scores: np.ndarray, n_neighbours: int = 15) -> np.ndarray:
    """2-D position of a query: the score-weighted mean of its best items' positions
    (the way UMAP initialises a new point from its neighbours)."""
    top = np.argsort(-scores)[:n_neighbours]
    weights = np.exp(scores[top] - scores[top].max())
    return (item_xy[top] * weights[:, None]).sum(0) / weights.sum()
