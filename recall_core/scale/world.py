"""The study's synthetic world: a catalogue with planted clusters, queries with two interests, and one
scorer shared by every index, fixed before any index is built.

Items are unit vectors around ``~sqrt(n)/2`` planted centres; a query mixes two centres plus noise
(``planted`` structure the indexes can learn). The scorer is ``s = <q, v> + lam * g(q, v)`` with
``g`` a fixed random MLP over ``[q, v, q * v]`` (:mod:`.pair_mlp`), rescaled so that over random pairs
``std g = std <q, v>``: ``lam = 0`` is the pure inner product, ``lam = 2`` makes the non-linear part
carry four times the variance of the inner product.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .pair_mlp import PairMLP, random_pair_mlp

K_TOP = 50
DIM = 16
HIDDEN = 16


@dataclass
class World:
    items: np.ndarray  # [n, d] float32 unit vectors
    centres: np.ndarray  # [c, d]
    scorer: PairMLP
    seed: int

    @property
    def n(self) -> int:
        return len(self.items)

    @property
    def lam(self) -> float:
        return self.scorer.lam


@dataclass
class TrainingSet:
    """Sampled queries standing in for users, with the scorer's exact top items (the teacher's labels)."""
    queries: np.ndarray  # [N, d]
    top: np.ndarray  # [N, k] item ids, best first


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def make_world(n: int, lam: float, dim: int = DIM, hidden: int = HIDDEN, seed: int = 0) -> World:
    """A catalogue of ``n`` items and the scorer with non-linearity weight ``lam`` (same weights for every
    ``lam`` and ``n`` at one seed, so the sizes differ only in the catalogue)."""
    rng = np.random.default_rng(seed)
    n_clusters = max(8, int(np.sqrt(n) / 2))
    centres = _unit(rng.normal(size=(n_clusters, dim)))
    scorer = random_pair_mlp(dim, hidden, np.random.default_rng(1000 + seed), lam)
    item_rng = np.random.default_rng([seed, n])
    items = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 200_000):  # chunks keep the temporaries small
        m = min(200_000, n - start)
        c = item_rng.integers(0, n_clusters, m)
        items[start:start + m] = _unit(centres[c] + 0.35 * item_rng.normal(size=(m, dim)))
    world = World(items, centres, scorer, seed)
    probe_q = sample_queries(world, 64, seed=99)
    probe_v = items[np.random.default_rng(98).choice(n, min(n, 2000), replace=False)]
    scorer.scale = float(scorer.nonlinear_part(probe_q, probe_v).std() / max((probe_q @ probe_v.T).std(), 1e-6))
    return world


def sample_queries(world: World, count: int, seed: int) -> np.ndarray:
    """Queries with two interests: centre a + 0.5 centre b + noise, normalised."""
    rng = np.random.default_rng([world.seed, seed, 7])
    a, b = rng.integers(0, len(world.centres), (2, count))
    q = world.centres[a] + 0.5 * world.centres[b] + 0.3 * rng.normal(size=(count, world.items.shape[1]))
    return _unit(q)


def exact_top(world: World, queries: np.ndarray, k: int = K_TOP, query_chunk: int = 64,
              item_chunk: int = 65_536) -> np.ndarray:
    """The scorer's exact top-k of every query (brute force, batched and streamed), best first."""
    out = np.empty((len(queries), k), dtype=np.int64)
    for q0 in range(0, len(queries), query_chunk):
        qs = queries[q0:q0 + query_chunk]
        best_s = np.full((len(qs), k), -np.inf, dtype=np.float32)
        best_i = np.zeros((len(qs), k), dtype=np.int64)
        for start in range(0, world.n, item_chunk):
            s = world.scorer.score_all(qs, world.items[start:start + item_chunk]).astype(np.float32)
            ids = np.broadcast_to(np.arange(start, start + s.shape[1]), s.shape)
            both_s, both_i = np.concatenate([best_s, s], 1), np.concatenate([best_i, ids], 1)
            top = np.argpartition(-both_s, k - 1, axis=1)[:, :k]
            best_s, best_i = np.take_along_axis(both_s, top, 1), np.take_along_axis(both_i, top, 1)
        order = np.argsort(-best_s, axis=1, kind="stable")
        out[q0:q0 + len(qs)] = np.take_along_axis(best_i, order, 1)
    return out


def training_set(world: World, count: int, seed: int, k: int = K_TOP) -> TrainingSet:
    queries = sample_queries(world, count, seed=10_000 + seed)
    return TrainingSet(queries, exact_top(world, queries, k))


def inner_product_overlap(world: World, queries: np.ndarray, exact: np.ndarray) -> float:
    """Share of the scorer's top-k that the pure inner product also ranks in its top-k (1.0 at lam = 0)."""
    k = exact.shape[1]
    ip = np.argpartition(-(queries @ world.items.T), k - 1, axis=1)[:, :k] if world.n <= 200_000 else None
    if ip is None:
        lin = PairMLP(world.scorer.wq, world.scorer.wv, world.scorer.wx, world.scorer.b, world.scorer.w2, lam=0.0)
        ip = exact_top(World(world.items, world.centres, lin, world.seed), queries, k)
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(ip.tolist(), exact.tolist())]))
