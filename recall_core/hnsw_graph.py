"""HNSW graphs built by hnswlib, read back into numpy, and searched with any score.

hnswlib builds the graph (Malkov & Yashunin, TPAMI'20); ``Index.__getstate__()[0]``
exposes its memory: ``data_level0`` holds, per element, a level-0 link record
(uint32 header whose low 16 bits are the count, then ``max_M0`` uint32 internal
ids), the vector and the label; ``link_lists`` concatenates, for each element of
level > 0, one record per upper level (header + ``max_M`` ids).

:func:`classic_search` replays hnswlib's own ``searchKnn`` (greedy descent, then
the ef-bounded best-first search of Algorithm 2 at layer 0) with a pluggable
score, so it can count how many elements a query evaluates; NANN's batched,
step-bounded variant lives in :mod:`recall_core.nann`.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Callable

import hnswlib
import numpy as np

ScoreFn = Callable[[np.ndarray], np.ndarray]  # internal ids -> scores, higher is better


@dataclass
class HnswGraph:
    levels: np.ndarray  # [n] top level of each element
    entry_point: int
    max_level: int
    labels: np.ndarray  # [n] external label of each internal id
    layers: list[tuple[np.ndarray, np.ndarray]]  # per level: CSR (indptr [n+1], indices)

    @property
    def n(self) -> int:
        return len(self.levels)

    def neighbours(self, node: int, level: int) -> np.ndarray:
        indptr, indices = self.layers[level]
        return indices[indptr[node]:indptr[node + 1]]

    def neighbours_of(self, nodes: np.ndarray, level: int) -> tuple[np.ndarray, np.ndarray]:
        """Every neighbour of ``nodes`` at ``level`` in one gather, node by node in the given order, and the node
        each one is a neighbour of: the same as concatenating :meth:`neighbours` of each node."""
        indptr, indices = self.layers[level]
        nodes = np.asarray(nodes, dtype=np.int64)
        starts, counts = indptr[nodes], indptr[nodes + 1] - indptr[nodes]
        offsets = np.cumsum(counts) - counts  # where each node's run begins in the output
        positions = np.arange(int(counts.sum())) + np.repeat(starts - offsets, counts)
        return indices[positions], np.repeat(nodes, counts)

    def nodes_at(self, level: int) -> np.ndarray:
        return np.flatnonzero(self.levels >= level)

    def edges(self, level: int) -> np.ndarray:
        """[n_edges, 2] directed (source, target) internal ids of one layer."""
        indptr, indices = self.layers[level]
        sources = np.repeat(np.arange(self.n), np.diff(indptr))
        return np.stack([sources, indices], axis=1)


def build_index(vectors: np.ndarray, space: str = "l2", M: int = 16, ef_construction: int = 100,
                seed: int = 0) -> hnswlib.Index:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    index = hnswlib.Index(space=space, dim=vectors.shape[1])
    index.init_index(max_elements=len(vectors), M=M, ef_construction=ef_construction, random_seed=seed)
    index.set_num_threads(1)  # deterministic construction
    index.add_items(vectors, np.arange(len(vectors)))
    return index


def export_graph(index: hnswlib.Index) -> HnswGraph:
    """Rebuild every layer's adjacency from hnswlib's serialized state."""
    state = index.__getstate__()[0]
    n = int(state["cur_element_count"])
    size_elem = int(state["size_data_per_element"])
    level0 = np.asarray(state["data_level0"]).view(np.uint8)[: n * size_elem].reshape(n, size_elem)
    max_m0, max_m = int(state["max_M0"]), int(state["max_M"])
    offset0 = int(state["offset_level0"])
    label_offset = int(state["label_offset"])
    levels = np.asarray(state["element_levels"], dtype=np.int64)[:n]

    def read_records(raw: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
        words = np.ascontiguousarray(raw).view(np.uint32).reshape(len(raw), 1 + width)
        counts = (words[:, 0] & 0xFFFF).astype(np.int64)
        return counts, words[:, 1:].astype(np.int64)

    layers = [_csr(*read_records(level0[:, offset0:offset0 + 4 * (1 + max_m0)], max_m0))]
    labels = np.ascontiguousarray(level0[:, label_offset:label_offset + 8]).view(np.uint64).ravel().astype(np.int64)

    size_links = int(state["size_links_per_element"])
    blob = np.asarray(state["link_lists"]).view(np.uint8)
    starts = np.concatenate([[0], np.cumsum(np.where(levels > 0, levels * size_links, 0))])
    max_level = int(state["max_level"])
    for level in range(1, max_level + 1):
        counts = np.zeros(n, dtype=np.int64)
        ids = np.zeros((n, max_m), dtype=np.int64)
        holders = np.flatnonzero(levels >= level)
        if len(holders):
            offs = starts[holders] + (level - 1) * size_links
            raw = blob[offs[:, None] + np.arange(4 * (1 + max_m))[None, :]]
            counts[holders], ids[holders] = read_records(raw, max_m)
        layers.append(_csr(counts, ids))
    return HnswGraph(levels, int(state["enterpoint_node"]), max_level, labels, layers)


def _csr(counts: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    indptr = np.concatenate([[0], np.cumsum(counts)])
    mask = np.arange(ids.shape[1])[None, :] < counts[:, None]
    return indptr, ids[mask]


def classic_search(graph: HnswGraph, score: ScoreFn, k: int, ef: int,
                   excluded: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """hnswlib's searchKnn with ``score`` in place of -distance.

    ``excluded`` (bool per internal id) mirrors hnswlib's ``filter``: excluded
    elements are still walked through but never enter the results.
    Returns (internal ids best first, their scores, number of elements scored).
    """
    current = graph.entry_point
    best = float(score(np.array([current]))[0])
    n_scored = 1
    for level in range(graph.max_level, 0, -1):  # greedy descent through the upper layers
        changed = True
        while changed:
            changed = False
            neigh = graph.neighbours(current, level)
            if not len(neigh):
                continue
            values = score(neigh)
            n_scored += len(neigh)
            for node, value in zip(neigh, values):
                if value > best:
                    best, current, changed = float(value), int(node), True
    ids, scores, spent = search_layer_best_first(graph, 0, [(best, current)], score, max(ef, k), excluded)
    return ids[:k], scores[:k], n_scored + spent


def search_layer_best_first(graph: HnswGraph, level: int, entries: list[tuple[float, int]], score: ScoreFn,
                            ef: int, excluded: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """SEARCH-LAYER of the HNSW paper (Algorithm 2): expand the best candidate until
    it is worse than the worst of the ef results."""
    allowed = (lambda node: True) if excluded is None else (lambda node: not excluded[node])
    visited = {node for _, node in entries}
    candidates = [(-s, node) for s, node in entries]  # max-heap on score
    heapq.heapify(candidates)
    results = [(s, node) for s, node in entries if allowed(node)]  # min-heap on score: worst on top
    heapq.heapify(results)
    while len(results) > ef:
        heapq.heappop(results)
    n_scored = 0
    while candidates:
        neg, node = heapq.heappop(candidates)
        if len(results) >= ef and -neg < results[0][0]:
            break
        fresh = [int(x) for x in graph.neighbours(node, level) if int(x) not in visited]
        if not fresh:
            continue
        visited.update(fresh)
        values = score(np.array(fresh))
        n_scored += len(fresh)
        for cand, value in zip(fresh, values):
            value = float(value)
            if len(results) < ef or value > results[0][0]:
                heapq.heappush(candidates, (-value, cand))
                if allowed(cand):
                    heapq.heappush(results, (value, cand))
                if len(results) > ef:
                    heapq.heappop(results)
    ordered = sorted(results, key=lambda t: -t[0])
    return (np.array([n for _, n in ordered], dtype=np.int64),
            np.array([s for s, _ in ordered], dtype=np.float32), n_scored)
