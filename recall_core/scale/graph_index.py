"""NANN (Chen et al., CIKM'22): an HNSW graph built on item embeddings, searched *after* training with
the scorer instead of a distance (Algorithm 1: layer by layer from the top; Algorithm 2: T steps of
batched expansion of the new entries of an ef-wide beam).

Two graphs, so that the graph's geometric advantage is measured rather than assumed:
``nann`` builds hnswlib's graph on the item vectors the scorer itself reads; ``nann_rp`` builds it on
a random projection of them to half the dimensions — an embedding the scorer never uses, standing in
for a separately learned one that shares only part of the scorer's geometry.
"""
from __future__ import annotations

import hashlib
import time

import hnswlib
import numpy as np

from ..hnsw_graph import HnswGraph, export_graph
from ..nann import search_layers
from .base import Found
from .brute import top_k
from .world import World

# (ef, T) at layer 0, cheapest first; upper layers use ef = 1 with T = 1 (a greedy step per layer)
SWEEP = ((50, 1), (50, 2), (50, 3), (50, 4), (64, 6), (100, 8), (200, 8), (200, 16), (400, 16), (800, 32),
         (1600, 64))  # ef below k = 50 would equal ef = 50: layer 0 keeps at least the k returned


_CACHE: dict = {}  # the graph depends on the item vectors and the seed only: shared by every lam


def build_graph(vectors: np.ndarray, M: int = 16, ef_construction: int = 40, seed: int = 0,
                threads: int = 2) -> tuple[HnswGraph, float]:
    """hnswlib's HNSW graph (Malkov & Yashunin; M = 16, efConstruction = 40 as in NANN's experiments) on
    ``vectors`` (l2), read back into numpy, with its build time in seconds. The last two graphs built are
    kept: a study asks for the same catalogue once per scorer."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    key = (vectors.shape, hashlib.sha1(vectors[:: max(1, len(vectors) // 4096)].tobytes()).hexdigest(), M,
           ef_construction, seed)
    if key in _CACHE:
        return _CACHE[key]
    start = time.perf_counter()
    index = hnswlib.Index(space="l2", dim=vectors.shape[1])
    index.init_index(max_elements=len(vectors), M=M, ef_construction=ef_construction, random_seed=seed)
    index.set_num_threads(threads)
    index.add_items(vectors, np.arange(len(vectors)))
    built = export_graph(index), time.perf_counter() - start
    while len(_CACHE) >= 2:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = built
    return built


class GraphIndex:
    knob = "(ef, T)"

    def __init__(self, world: World, graph: HnswGraph, name: str, build_seconds: float = 0.0):
        self.world, self.graph, self.name = world, graph, name
        self.build_seconds = build_seconds  # the graph's own build (it may come from the cache)
        self.by_internal = world.items[graph.labels]  # the scorer's vectors in the graph's order

    def settings(self) -> list[tuple[int, int]]:
        return [s for s in SWEEP if s[0] <= max(50, self.world.n // 4)]

    def search(self, query: np.ndarray, k: int, setting: tuple[int, int]) -> Found:
        ef, steps = setting
        scorer, g = self.world.scorer, self.graph
        state = scorer.query_state(query)
        score = lambda ids: scorer.score(state, self.by_internal[ids])
        entry = np.array([g.entry_point])
        efs = [1] * g.max_level + [max(ef, k)]
        ts = [1] * g.max_level + [steps]
        ids, scores, spent = search_layers(g, entry, score(entry), score, efs, ts)
        return Found(self.graph.labels[top_k(scores, ids, k)], 1 + spent)

    def nbytes(self) -> int:
        return sum(a.nbytes + b.nbytes for a, b in self.graph.layers) + self.graph.labels.nbytes


def build_nann(world: World, seed: int = 0) -> GraphIndex:
    """The graph on the scorer's own item vectors."""
    graph, seconds = build_graph(world.items, seed=seed)
    return GraphIndex(world, graph, "nann", seconds)


def build_nann_projected(world: World, seed: int = 0) -> GraphIndex:
    """The graph on a random Gaussian projection of the item vectors to d/2 dimensions."""
    rng = np.random.default_rng([seed, 31])
    d = world.items.shape[1]
    projection = rng.normal(size=(d, max(2, d // 2))).astype(np.float32)
    graph, seconds = build_graph(world.items @ projection, seed=seed)
    return GraphIndex(world, graph, "nann_rp", seconds)
