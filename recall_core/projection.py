"""2-D maps of embeddings (UMAP), cached on disk next to the model they come from."""
from __future__ import annotations

import hashlib
import io
import threading
import warnings
from pathlib import Path

import numpy as np

from .artifacts import atomic_write_bytes


_PREWARMED: dict[str, threading.Thread] = {}
_PREWARM_LOCK = threading.Lock()


def prewarm_umap(metric: str = "cosine") -> threading.Thread:
    """Compile UMAP's numba code for ``metric`` in a background thread, once per process.

    The first UMAP fit of a process spends about 12 s compiling (a later fit of the same 1.5k vectors: 3 s).
    Started when a model that needs a map begins training (``methods.load_or_train``), the compilation overlaps
    the training
    instead of following it, so that model's page goes live sooner (issue 13 §1: the two-tower page within
    20 s). A small random matrix takes the same code path as any catalogue under UMAP's 4,096-point
    exact-neighbour limit."""
    with _PREWARM_LOCK:
        if metric not in _PREWARMED:
            sample = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)
            thread = threading.Thread(target=umap_2d, args=(sample, 0, metric), daemon=True,
                                      name=f"recall-lab-umap-prewarm:{metric}")
            thread.start()
            _PREWARMED[metric] = thread
        return _PREWARMED[metric]


def umap_2d(vectors: np.ndarray, seed: int = 0, metric: str = "cosine", n_neighbors: int = 15) -> np.ndarray:
    import umap  # imported lazily: numba compilation is slow and only maps need it

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reducer = umap.UMAP(n_components=2, metric=metric, n_neighbors=min(n_neighbors, len(vectors) - 1),
                            random_state=seed, init="random" if len(vectors) < 8 else "spectral")
        return reducer.fit_transform(np.asarray(vectors, dtype=np.float32)).astype(np.float32)


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
