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


def test_a_sweep_that_stops_at_the_choice_chooses_the_same_setting(synthetic):
    """whole_curve=False (the app's stored rows): the same setting as the whole sweep, and nothing costlier than it
    is searched."""
    from recall_core.dr import DR_BEAMS

    held = synthetic.valid
    whole = choose_search("dr", _Widening(held.truths, needed=10), held)
    model = _Widening(held.truths, needed=10)
    short = choose_search("dr", model, held, whole_curve=False)
    assert short.setting == whole.setting == {"beam": 10} and short.ceiling == whole.ceiling
    assert short.curve == whole.curve[:len(short.curve)] and len(short.curve) < len(whole.curve)
    assert max(b for b in model.calls if b in DR_BEAMS) == 10  # no wider beam than the one chosen
    never = choose_search("dr", _Widening(held.truths, needed=1000), held, whole_curve=False)
    assert len(never.curve) == len(DR_BEAMS)  # no setting reaches the ceiling: the whole curve, the best row


def test_stored_rows_use_the_setting_read_off_the_training_curve(synthetic):
    """methods.validation_search: the budget curve the training logged on validation users gives the setting
    (nothing searched again); TDM's curve carries its ceiling as the exhaustive beam; without a curve the knob
    is swept on the validation users."""
    from recall_core.methods import validation_search

    model = _Widening(synthetic.valid.truths, needed=10)
    model.log = {"budget_curve": [{"ef0": 50, "steps0": 8, "scored_per_user": 10.0, "recall@50": 0.30},
                                  {"ef0": 75, "steps0": 8, "scored_per_user": 20.0, "recall@50": 0.396},
                                  {"ef0": 100, "steps0": 8, "scored_per_user": 30.0, "recall@50": 0.40}],
                 "bruteforce_recall@50": 0.40}
    chosen = validation_search("nann", model, synthetic)
    assert chosen == {"setting": {"ef0": 75, "steps0": 8}, "valid_ceiling": 0.40, "source": "training curve"}
    assert model.calls == []  # read off the log
    model.log = {"budget_curve": [{"beam": 1, "scored_per_user": 5.0, "recall@50": 0.1},
                                  {"beam": 64, "scored_per_user": 90.0, "recall@50": 0.206},
                                  {"beam": 512, "scored_per_user": 100.0, "recall@50": 0.21, "exhaustive": True}]}
    assert validation_search("tdm", model, synthetic)["setting"] == {"beam": 64}  # within 0.005 of the exhaustive
    model.log = {}
    swept = validation_search("dr", model, synthetic)
    assert swept["setting"] == {"beam": 10} and swept["source"] == "sweep" and model.calls


def test_stored_evaluation_searches_at_the_validation_setting(tmp_path, synthetic, monkeypatch):
    from recall_core import methods
    from recall_core.protocol import evaluate

    model = _Widening(synthetic.test.truths, needed=10)
    seen = []
    real = evaluate

    def spy(retriever, split, **kwargs):
        seen.append(kwargs.get("search"))
        return real(retriever, split, **kwargs)

    import recall_core.protocol as protocol

    monkeypatch.setattr(protocol, "evaluate", spy)
    monkeypatch.setattr(methods, "validation_search", lambda method, retriever, split: {
        "setting": {"beam": 25}, "valid_ceiling": 0.5, "source": "sweep"})
    row = methods.store_evaluation(synthetic, "dr", model, root=tmp_path)
    assert seen == [{"beam": 25}] and row["search"] == {"beam": 25}
    assert row["validation_search"]["valid_ceiling"] == 0.5
