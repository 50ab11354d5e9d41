"""Search traces: the plain-data contract between retrievers and pages.

A retriever asked for ``trace=True`` returns one :class:`SearchTrace` per user: the
steps it took (what it scored, with which scores, what it kept).  Figure builders
in :mod:`recall_core.viz` turn a trace into frames without knowing the model, and
tests assert on it (e.g. the beam kept at a level is the top-B of what it scored).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class TraceStep:
    stage: str  # short label, e.g. "level 3", "layer 0 · hop 2", "exact"
    level: int  # tree level, lattice layer or graph layer
    scored: np.ndarray  # ids evaluated in this step (nodes, path prefixes or items)
    scores: np.ndarray  # the model's scores for ``scored``
    kept: np.ndarray  # ids kept after the step (beam, result set W, ...)
    info: dict = field(default_factory=dict)  # method-specific extras (parents, candidates, ...)


@dataclass
class SearchTrace:
    method: str
    steps: list[TraceStep]
    items: np.ndarray  # final item ids, best first
    scores: np.ndarray
    n_scored: int
    info: dict = field(default_factory=dict)

    def scored_so_far(self) -> list[int]:
        """Cumulative model evaluations after each step (the budget counter on the pages)."""
        return np.cumsum([len(s.scored) for s in self.steps]).tolist()
