"""Cost growth with catalogue size: each index on synthetic catalogues of 10^3 .. 10^6 items.

Only the index varies: every method scores with the same small fixed scorer
s(u, v) = <u, v> + 0.2 tanh(u^T A v) over unit vectors with planted clusters, so
the figures say how many evaluations each index spends per query, how long it
takes, and how much of the scorer's exact top-50 it keeps.

* TDM: a balanced binary tree (leaves on the last level) built by median splits
  along the principal axes, one axis per level; node vector = mean of its items;
  layer-wise beam search with beam B.
* DR: D = 3 layers of K nodes, K^3 ~ n / 20; items placed on one path by quantile
  splits per layer; p(c_d | u, prefix) = softmax over the prefix's children of
  s(u, centroid) / tau; beam B over the lattice, then the path items are scored.
* NANN: hnswlib's graph on v (l2), searched with s by NANN's Algorithm 1-2.
* Brute force: s on every item (numpy, float32, batched).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .hnsw_graph import export_graph
from .nann import layer_schedule, search_layers

K_RETURN = 50


@dataclass
class Catalogue:
    items: np.ndarray  # [n, d] unit vectors
    centres: np.ndarray
    mix: np.ndarray  # [d, d] the fixed scorer's bilinear term


def planted_catalogue(n: int, dim: int = 16, seed: int = 0) -> Catalogue:
    rng = np.random.default_rng(seed)
    n_clusters = max(8, int(np.sqrt(n) / 2))
    centres = rng.normal(size=(n_clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    items = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 200_000):  # chunks keep the temporaries small
        m = min(200_000, n - start)
        c = rng.integers(0, n_clusters, m)
        block = centres[c] + 0.35 * rng.normal(size=(m, dim)).astype(np.float32)
        items[start:start + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    mix = (rng.normal(size=(dim, dim)) / np.sqrt(dim)).astype(np.float32)
    return Catalogue(items, centres, mix)


def planted_queries(cat: Catalogue, n_queries: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, len(cat.centres), (2, n_queries))
    q = cat.centres[a] + 0.5 * cat.centres[b] + 0.3 * rng.normal(size=(n_queries, cat.items.shape[1]))
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def fixed_score(cat: Catalogue, queries: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """s(u, v) = <u, v> + 0.2 tanh(u^T A v): [Q, n] for all pairs of queries and vectors."""
    return queries @ vectors.T + 0.2 * np.tanh((queries @ cat.mix) @ vectors.T)


def brute_force_top(cat: Catalogue, queries: np.ndarray, k: int = K_RETURN, chunk: int = 250_000) -> np.ndarray:
    """Exact top-k of the fixed scorer, streaming over the catalogue in chunks."""
    best_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), k), dtype=np.int64)
    for start in range(0, len(cat.items), chunk):
        s = fixed_score(cat, queries, cat.items[start:start + chunk]).astype(np.float32)
        both_s = np.concatenate([best_s, s], axis=1)
        both_i = np.concatenate([best_i, np.arange(start, start + s.shape[1])[None].repeat(len(queries), 0)], axis=1)
        top = np.argpartition(-both_s, k - 1, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(both_s, top, 1), np.take_along_axis(both_i, top, 1)
    order = np.argsort(-best_s, axis=1)
    return np.take_along_axis(best_i, order, 1)


def _principal_axes(x: np.ndarray, count: int) -> np.ndarray:
    sample = x[np.random.default_rng(0).choice(len(x), min(len(x), 20_000), replace=False)]
    _, _, vt = np.linalg.svd(sample - sample.mean(0), full_matrices=False)
    return vt[: min(count, len(vt))]


def _kmeans_labels(x: np.ndarray, k: int, rng: np.random.Generator, iterations: int = 8) -> np.ndarray:
    """Plain k-means (Lloyd) on a sample for the centres, then every row to its nearest centre."""
    if len(x) <= k:
        return np.arange(len(x))
    sample = x[rng.choice(len(x), min(len(x), 4000), replace=False)]
    centres = sample[rng.choice(len(sample), k, replace=False)]
    for _ in range(iterations):
        labels = np.argmax(sample @ centres.T - 0.5 * (centres ** 2).sum(1), axis=1)
        for j in range(k):
            if (labels == j).any():
                centres[j] = sample[labels == j].mean(0)
    return np.argmax(x @ centres.T - 0.5 * (centres ** 2).sum(1), axis=1)


# ---------------------------------------------------------------------------- TDM


class FixedTree:
    """Balanced binary tree by median splits, vectorised level by level (heap codes, leaves at depth D)."""

    def __init__(self, cat: Catalogue):
        x, n = cat.items, len(cat.items)
        self.depth = max(1, int(np.ceil(np.log2(n))))
        axes = _principal_axes(x, x.shape[1])
        node = np.zeros(n, dtype=np.int64)  # current heap code of each item
        rank = np.zeros(n, dtype=np.int64)
        size = np.full(n, n, dtype=np.int64)
        for level in range(self.depth):
            proj = x @ axes[level % len(axes)]
            order = np.lexsort((proj, node))  # by node, then along this level's axis
            first = np.r_[0, np.flatnonzero(np.diff(node[order])) + 1]
            counts = np.diff(np.r_[first, n])
            rank[order] = np.arange(n) - np.repeat(first, counts)
            left = (size + 1) // 2
            go_right = rank >= left
            node = 2 * node + 1 + go_right
            rank = np.where(go_right, rank - left, rank)
            size = np.where(go_right, size - left, left)
        self.leaf = node
        n_codes = 2 ** (self.depth + 1) - 1
        sums = np.zeros((n_codes, x.shape[1]), dtype=np.float32)
        counts = np.zeros(n_codes, dtype=np.float32)
        np.add.at(sums, node, x)
        np.add.at(counts, node, 1)
        for level in range(self.depth - 1, -1, -1):
            codes = np.arange(2 ** level - 1, 2 ** (level + 1) - 1)
            sums[codes] = sums[2 * codes + 1] + sums[2 * codes + 2]
            counts[codes] = counts[2 * codes + 1] + counts[2 * codes + 2]
        self.vectors = sums / np.maximum(counts, 1)[:, None]
        self.valid = counts > 0
        self.item_at = np.full(n_codes, -1, dtype=np.int64)
        self.item_at[node] = np.arange(n)

    def search(self, cat: Catalogue, queries: np.ndarray, beam: int) -> tuple[np.ndarray, np.ndarray]:
        level = int(np.ceil(np.log2(max(beam, 1))))
        level = min(level, self.depth)
        start = 2 ** level - 1
        cand = np.tile(np.arange(start, 2 ** (level + 1) - 1), (len(queries), 1))
        scored = np.zeros(len(queries), dtype=np.int64)
        while True:
            ok = (cand >= 0) & self.valid[np.maximum(cand, 0)]
            s = np.einsum("qd,qcd->qc", queries, self.vectors[np.maximum(cand, 0)]) + 0.2 * np.tanh(
                np.einsum("qd,qcd->qc", queries @ cat.mix, self.vectors[np.maximum(cand, 0)]))
            s = np.where(ok, s, -np.inf)
            scored += ok.sum(1)
            keep = min(K_RETURN if level == self.depth else beam, cand.shape[1])
            top = np.argpartition(-s, keep - 1, axis=1)[:, :keep]
            kept, kept_s = np.take_along_axis(cand, top, 1), np.take_along_axis(s, top, 1)
            if level == self.depth:
                order = np.argsort(-kept_s, axis=1)
                return self.item_at[np.take_along_axis(kept, order, 1)], scored
            alive = np.isfinite(kept_s)
            cand = np.where(np.repeat(alive, 2, 1), np.stack([2 * kept + 1, 2 * kept + 2], -1).reshape(len(queries), -1), -1)
            level += 1


# ---------------------------------------------------------------------------- DR


class FixedLattice:
    """D = 3 layers of K nodes; each item on one path by quantile splits along principal axes."""

    def __init__(self, cat: Catalogue, depth: int = 3, per_path: int = 20, tau: float = 0.05):
        x, n = cat.items, len(cat.items)
        self.depth, self.tau = depth, tau
        self.width = max(2, int(round((n / per_path) ** (1 / depth))))
        rng = np.random.default_rng(0)
        prefix = np.zeros(n, dtype=np.int64)
        for d in range(depth):  # k-means with K centres inside every prefix of the layer above
            order = np.argsort(prefix, kind="stable")
            bounds = np.searchsorted(prefix[order], np.arange(self.width ** d + 1))
            code = np.zeros(n, dtype=np.int64)
            for p in range(self.width ** d):
                members = order[bounds[p]:bounds[p + 1]]
                if len(members):
                    code[members] = _kmeans_labels(x[members], self.width, rng)
            prefix = prefix * self.width + code
        self.path = prefix
        self.centroids = []  # per layer d: [K^(d+1), dim] mean vector of each prefix
        for d in range(depth):
            ids = prefix // self.width ** (depth - 1 - d)
            sums = np.zeros((self.width ** (d + 1), x.shape[1]), dtype=np.float32)
            np.add.at(sums, ids, x)
            cnt = np.bincount(ids, minlength=len(sums)).astype(np.float32)
            self.centroids.append(sums / np.maximum(cnt, 1)[:, None])
        order = np.argsort(self.path, kind="stable")
        self.path_items = order
        self.path_start = np.searchsorted(self.path[order], np.arange(self.width ** depth + 1))

    def search(self, cat: Catalogue, queries: np.ndarray, beam: int) -> tuple[np.ndarray, np.ndarray]:
        K, Q = self.width, len(queries)
        prefixes = np.zeros((Q, 1), dtype=np.int64)
        logp = np.zeros((Q, 1))
        scored = np.zeros(Q, dtype=np.int64)
        for d in range(self.depth):
            children = (prefixes[:, :, None] * K + np.arange(K)).reshape(Q, -1)
            vecs = self.centroids[d][children]
            s = np.einsum("qd,qcd->qc", queries, vecs) + 0.2 * np.tanh(np.einsum("qd,qcd->qc", queries @ cat.mix, vecs))
            s = s.reshape(Q, -1, K) / self.tau
            step = s - np.logaddexp.reduce(s, axis=2, keepdims=True)  # log-softmax per parent
            total = (logp[:, :, None] + step).reshape(Q, -1)
            scored += total.shape[1]
            keep = min(beam, total.shape[1])
            top = np.argpartition(-total, keep - 1, axis=1)[:, :keep]
            prefixes, logp = np.take_along_axis(children, top, 1), np.take_along_axis(total, top, 1)
        results = np.full((Q, K_RETURN), -1, dtype=np.int64)
        for q in range(Q):
            items = np.concatenate([self.path_items[self.path_start[p]:self.path_start[p + 1]] for p in prefixes[q]])
            scored[q] += len(items)
            if len(items):
                s = fixed_score(cat, queries[q:q + 1], cat.items[items])[0]
                top = items[np.argsort(-s)[:K_RETURN]]
                results[q, :len(top)] = top
        return results, scored


# ---------------------------------------------------------------------------- NANN


class FixedGraph:
    """hnswlib's HNSW graph on the item vectors (built with two threads), read out into numpy."""

    def __init__(self, cat: Catalogue, M: int = 16, ef_construction: int = 40, threads: int = 2):
        import hnswlib

        index = hnswlib.Index(space="l2", dim=cat.items.shape[1])
        index.init_index(max_elements=len(cat.items), M=M, ef_construction=ef_construction, random_seed=0)
        index.set_num_threads(threads)
        index.add_items(cat.items, np.arange(len(cat.items)))
        self.graph = export_graph(index)
        self.labels = self.graph.labels  # item id of each internal id

    def search(self, cat: Catalogue, queries: np.ndarray, ef=(4, 16, 50), steps=(1, 1, 3)) -> tuple[np.ndarray, np.ndarray]:
        g = self.graph
        by_internal = cat.items[self.labels]
        efs = layer_schedule(ef, g.max_level + 1)
        ts = layer_schedule(steps, g.max_level + 1)
        results = np.full((len(queries), K_RETURN), -1, dtype=np.int64)
        scored = np.zeros(len(queries), dtype=np.int64)
        for q, u in enumerate(queries):
            score = lambda ids: fixed_score(cat, u[None], by_internal[ids])[0]
            entry = np.array([g.entry_point])
            layer_efs = efs[:-1] + [max(efs[-1], K_RETURN)]  # layer 0 keeps at least the K returned
            entry, _, used = search_layers(g, entry, score(entry), score, layer_efs, ts)
            spent = 1 + used
            top = entry[:K_RETURN]
            results[q, :len(top)] = self.labels[top]
            scored[q] = spent
        return results, scored


# ---------------------------------------------------------------------------- the study


def recall_against(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(f[f >= 0].tolist()) & set(e.tolist())) / len(e) for f, e in zip(found, exact)]))


def cost_growth(sizes=(1_000, 10_000, 100_000, 1_000_000), n_queries: int = 50, tdm_beam: int = 50,
                dr_beam: int = 10, progress=None) -> list[dict]:
    rows = []
    for n in sizes:
        cat = planted_catalogue(n)
        queries = planted_queries(cat, n_queries)
        start = time.perf_counter()
        exact = brute_force_top(cat, queries)
        brute_ms = 1000 * (time.perf_counter() - start) / n_queries
        rows.append({"n_items": n, "method": "brute_force", "scored_per_query": float(n), "ms_per_query": brute_ms,
                     "recall_vs_exact@50": 1.0, "build_seconds": 0.0})
        for name, build, search in (
            ("tdm", lambda: FixedTree(cat), lambda idx: idx.search(cat, queries, tdm_beam)),
            ("dr", lambda: FixedLattice(cat), lambda idx: idx.search(cat, queries, dr_beam)),
            ("nann", lambda: FixedGraph(cat), lambda idx: idx.search(cat, queries)),
        ):
            if progress:
                progress(f"cost growth: {name} on {n:,} items")
            t0 = time.perf_counter()
            index = build()
            built = time.perf_counter() - t0
            t0 = time.perf_counter()
            found, scored = search(index)
            ms = 1000 * (time.perf_counter() - t0) / n_queries
            rows.append({"n_items": n, "method": name, "scored_per_query": float(scored.mean()), "ms_per_query": ms,
                         "recall_vs_exact@50": recall_against(found, exact), "build_seconds": built})
    return rows
