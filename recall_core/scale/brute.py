"""Brute force: the scorer on every item (the exact answer every index is measured against)."""
from __future__ import annotations

import numpy as np

from .base import Found
from .world import World


def top_k(scores: np.ndarray, ids: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` best ``ids`` by ``scores``, best first."""
    if len(ids) > k:
        part = np.argpartition(-scores, k - 1)[:k]
        ids, scores = ids[part], scores[part]
    return ids[np.argsort(-scores, kind="stable")]


class BruteForce:
    name = "brute_force"
    knob = "-"

    def __init__(self, world: World):
        self.world = world

    def settings(self) -> list[int]:
        return [0]

    def search(self, query: np.ndarray, k: int, setting: int = 0) -> Found:
        scores = self.world.scorer.score(self.world.scorer.query_state(query), self.world.items)
        return Found(top_k(scores, np.arange(self.world.n), k), self.world.n)

    def nbytes(self) -> int:
        return 0
