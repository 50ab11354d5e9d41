"""Search settings chosen on validation users, never on test users.

Each index has a knob that trades evaluations for recall (two-tower hnswlib ``ef``, TDM's
beam, DR's beam, NANN's steps T at layer 0, the semantic-ID generator's beam B).  For one
trained model we sweep the knob on the validation users (that sweep is also the budget curve
the app shows), and take the cheapest setting whose validation recall@50 is within
``tolerance`` of the best the model can do there: its own brute-force ceiling on validation.
``tolerance`` defaults to 0.005, half the validation set's standard error (about 0.01 with
~370 users), so the choice costs at most noise.  The test users are then used once, with that setting.
"""
from __future__ import annotations

from dataclasses import dataclass

from .data import HeldOut
from .protocol import Retriever, ranking_metrics

TOLERANCE = 0.005
TWO_TOWER_EF = [16, 32, 64, 128, 256]
NANN_STEPS0 = [1, 2, 3, 4, 6, 8]


def search_grid(method: str, retriever: Retriever) -> tuple[str, list[dict]] | None:
    """(knob name, candidate settings from cheap to costly) of a method's index, or None."""
    if method == "two_tower":
        return "ef", [{"ef": e} for e in TWO_TOWER_EF]
    if method == "tdm":
        from .tdm import beam_sizes

        return "beam", [{"beam": b} for b in beam_sizes(retriever.tree)]
    if method == "dr":
        from .dr import DR_BEAMS

        return "beam", [{"beam": b} for b in DR_BEAMS]
    if method == "sid":
        from .sid import SID_BEAMS

        return "beam", [{"beam": b} for b in SID_BEAMS]
    if method.startswith("nann"):
        return "steps0", [{"steps0": t} for t in NANN_STEPS0]
    return None


@dataclass
class Choice:
    knob: str
    setting: dict
    curve: list[dict]  # one row per candidate: the setting, recall@50 and evaluations per user (validation)
    ceiling: float  # the model's brute-force recall@50 on validation

    def as_dict(self) -> dict:
        return {"knob": self.knob, "setting": self.setting, "curve": self.curve, "valid_ceiling": self.ceiling}


def validation_curve(retriever: Retriever, held: HeldOut, settings: list[dict], k: int = 50) -> list[dict]:
    rows = []
    for setting in settings:
        result = retriever.retrieve(held.inputs, k, users=held.users, **setting)
        rows.append({**setting, "scored_per_user": float(result.n_scored.mean()),
                     f"recall@{k}": ranking_metrics(result.items, held.truths, (k,))[f"recall@{k}"]})
    return rows


def pick(curve: list[dict], ceiling: float, keys: list[str], tolerance: float = TOLERANCE, k: int = 50) -> dict:
    """The cheapest row within ``tolerance`` of ``ceiling`` (rows are cheap to costly), else the best row."""
    for row in curve:
        if row[f"recall@{k}"] >= ceiling - tolerance:
            return {key: row[key] for key in keys}
    best = max(curve, key=lambda r: r[f"recall@{k}"])
    return {key: best[key] for key in keys}


def choose_search(method: str, retriever: Retriever, held: HeldOut, tolerance: float = TOLERANCE,
                  whole_curve: bool = True) -> Choice | None:
    """Sweep the method's knob on ``held`` (validation users) and choose a setting; None if it has no knob.
    ``whole_curve=False`` stops the sweep at the first setting within ``tolerance`` of the ceiling -- the setting
    :func:`pick` would choose from the whole curve, without the costlier settings after it (the app's stored rows
    need the choice, not the curve: the two-tower's largest ef values were most of its 3.3 s sweep)."""
    grid = search_grid(method, retriever)
    if grid is None:
        return None
    knob, settings = grid
    brute = retriever.brute_force(held.inputs, 50, users=held.users).items
    ceiling = ranking_metrics(brute, held.truths, (50,))["recall@50"]
    curve = []
    for setting in settings:
        curve += validation_curve(retriever, held, [setting])
        if not whole_curve and curve[-1]["recall@50"] >= ceiling - tolerance:
            break
    return Choice(knob, pick(curve, ceiling, list(settings[0]), tolerance), curve, float(ceiling))


def curve_as_budget(choice: Choice) -> list[dict]:
    """The validation sweep in the budget-curve form the figures take ({knob, scored_per_user, recall@50})."""
    return [{choice.knob: row[choice.knob], "scored_per_user": row["scored_per_user"],
             "recall@50": row["recall@50"]} for row in choice.curve]

