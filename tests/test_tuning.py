"""Search settings are chosen on validation users: the cheapest within tolerance of the ceiling."""
from __future__ import annotations

import numpy as np

from recall_core.protocol import RetrievalResult, Retriever
from recall_core.tuning import choose_search, pick


def test_pick_takes_the_cheapest_setting_within_tolerance():
    curve = [{"beam": 1, "recall@50": 0.20}, {"beam": 2, "recall@50": 0.396}, {"beam": 4, "recall@50": 0.401}]
    assert pick(curve, ceiling=0.40, keys=["beam"]) == {"beam": 2}
    assert pick(curve, ceiling=0.40, keys=["beam"], tolerance=0.0) == {"beam": 4}
    assert pick(curve, ceiling=0.50, keys=["beam"]) == {"beam": 4}  # none close: the best one


class _Widening(Retriever):
    """Returns the user's truth items only when the beam is wide enough: a knob with a known answer."""

    method = "dr"
    n_items = 100

    def __init__(self, truths, needed):
        self.truths, self.needed, self.calls = truths, needed, []

    def retrieve(self, histories, k, trace=False, users=None, beam=1):
        self.calls.append(beam)
        rows = [np.pad(t[:k], (0, k - len(t[:k])), constant_values=-1) if beam >= self.needed else np.full(k, -1)
                for t in self.truths]
        return RetrievalResult(np.array(rows), np.zeros((len(rows), k)), np.full(len(rows), beam * 10))

    def brute_force(self, histories, k, users=None):
        return self.retrieve(histories, k, beam=10 ** 6)


def test_choose_search_uses_only_the_users_it_is_given(synthetic):
    held = synthetic.valid
    model = _Widening(held.truths, needed=10)
    choice = choose_search("dr", model, held)
    assert choice.setting == {"beam": 10}  # DR_BEAMS has 10: the first beam that reaches the ceiling
    assert choice.ceiling == np.mean([min(50, len(t)) / len(t) for t in held.truths]) and len(choice.curve) >= 3
    assert all(row["scored_per_user"] == 10 * row["beam"] for row in choice.curve)
