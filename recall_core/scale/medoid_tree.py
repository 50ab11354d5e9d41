"""The seed's own post-training alternative to the graph: a hierarchical k-medoids tree over the scorer's
item vectors, searched top-down with the scorer itself.

Every internal node is represented by its medoid (the member item nearest its cluster's mean), so a
node is scored as ``s(q, v_medoid)`` with the very scorer being served — no node model is trained.
The search keeps the B best internal nodes of the frontier at each step (a beam, as TDM's); items met on
the way are scored once and kept in a pool; the top-k of the pool is returned. The seed says this does
worse than the graph: the study measures it at equal budget.
"""
from __future__ import annotations

import numpy as np

from .base import Found
from .brute import top_k
from .world import World


def _kmeans(x: np.ndarray, k: int, rng: np.random.Generator, iterations: int = 6) -> np.ndarray:
    """Labels of Lloyd's k-means (centres from a sample of at most 2,000 rows, then every row assigned)."""
    sample = x if len(x) <= 2000 else x[rng.choice(len(x), 2000, replace=False)]
    centres = sample[rng.choice(len(sample), k, replace=False)]
    for _ in range(iterations):
        labels = np.argmax(sample @ centres.T - 0.5 * (centres ** 2).sum(1), axis=1)
        sums = np.zeros_like(centres)
        np.add.at(sums, labels, sample)
        counts = np.bincount(labels, minlength=k)
        centres = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], centres)
    return np.argmax(x @ centres.T - 0.5 * (centres ** 2).sum(1), axis=1)


class MedoidTree:
    name = "kmedoids_tree"
    knob = "beam"

    def __init__(self, world: World, branching: int = 16, seed: int = 0):
        """Nodes 0..n-1 are the items; internal nodes follow. ``children`` is CSR over node ids."""
        x, n = world.items, world.n
        rng = np.random.default_rng([seed, 41])
        self.world, self.branching = world, branching
        medoid = list(range(n))
        # top-down: split every cluster of more than `branching` items into `branching` k-means clusters
        queue = [(np.arange(n), -1)]
        order: list[tuple[np.ndarray, int]] = []
        while queue:
            members, parent = queue.pop()
            node = n + len(order)
            order.append((members, parent))
            if len(members) <= branching:
                continue
            labels = _kmeans(x[members], branching, rng)
            for j in range(branching):
                part = members[labels == j]
                if len(part) == len(members):  # degenerate split: cut in halves instead
                    part = members[: len(members) // 2]
                    queue.append((members[len(members) // 2:], node))
                if len(part):
                    queue.append((part, node))
        n_internal = len(order)
        kids: list[list[int]] = [[] for _ in range(n_internal)]
        for i, (members, parent) in enumerate(order):
            if parent >= 0:
                kids[parent - n].append(n + i)
            if len(members) <= branching:
                kids[i].extend(members.tolist())
            centre = x[members].mean(0)
            medoid.append(int(members[np.argmax(x[members] @ centre - 0.5 * (x[members] ** 2).sum(1))]))
        self.medoid = np.asarray(medoid, dtype=np.int64)
        counts = np.array([0] * n + [len(k) for k in kids])
        self.indptr = np.concatenate([[0], np.cumsum(counts)])
        self.indices = np.array([c for k in kids for c in k], dtype=np.int64)
        self.root, self.n_items = n, n

    def settings(self) -> list[int]:
        return [b for b in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096) if b <= max(4, self.n_items // 4)]

    def children(self, nodes: np.ndarray) -> np.ndarray:
        return np.concatenate([self.indices[self.indptr[c]:self.indptr[c + 1]] for c in nodes])

    def search(self, query: np.ndarray, k: int, setting: int) -> Found:
        scorer = self.world.scorer
        state = scorer.query_state(query)
        known: dict[int, float] = {}  # item id -> score (a medoid is an item: never scored twice)
        spent = 0
        frontier = self.children(np.array([self.root]))
        while len(frontier):
            items = np.unique(self.medoid[frontier])
            fresh = np.array([i for i in items.tolist() if i not in known], dtype=np.int64)
            if len(fresh):
                known.update(zip(fresh.tolist(), scorer.score(state, self.world.items[fresh]).tolist()))
                spent += len(fresh)
            internal = frontier[frontier >= self.n_items]
            if not len(internal):
                break
            values = np.array([known[m] for m in self.medoid[internal].tolist()])
            frontier = self.children(top_k(values, internal, setting))
        ids = np.fromiter(known.keys(), dtype=np.int64, count=len(known))
        return Found(top_k(np.fromiter(known.values(), dtype=np.float64, count=len(known)), ids, k), spent)

    def nbytes(self) -> int:
        return self.medoid.nbytes + self.indptr.nbytes + self.indices.nbytes


def build_medoid_tree(world: World, seed: int = 0) -> MedoidTree:
    return MedoidTree(world, seed=seed)
