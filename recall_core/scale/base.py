"""What every index of the study offers: a knob to sweep and a one-query search that counts its cost."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass
class Found:
    items: np.ndarray  # [<= k] item ids, best first
    evaluations: int  # scorer or node-model evaluations spent on this query


class ScaleIndex(Protocol):
    name: str  # e.g. "tdm", "dr_untrained"
    knob: str  # the swept setting's name, e.g. "beam", "ef"

    def settings(self) -> list[int]:
        """The knob values swept, cheapest first."""

    def search(self, query: np.ndarray, k: int, setting: int) -> Found:
        """One query at a time (the study times every index this way)."""

    def nbytes(self) -> int:
        """Memory held by the index beyond the catalogue and the scorer."""
