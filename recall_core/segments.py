"""Who wins for whom: held-out users split by what their history looks like.

Three plain descriptions of a user's input half, each cut into thirds (tertiles of the
held-out users themselves, so every segment holds about a third of them):
- ``history_length``: how many positives the user gave before the cut;
- ``genre_entropy``: Shannon entropy (bits) of the genres of those items — low for a
  user with one taste, high for one with many (where one user vector must point at
  several places at once, the two-tower's weak spot);
- ``mainstream``: mean log(1 + training count) of those items — how popular the
  user's taste is (low = niche).
Per segment, each method's recall@50 with a bootstrap interval and the paired per-user
difference to the baseline (see :mod:`recall_core.stats`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import HeldOut, Split
from .stats import bootstrap_mean, paired_difference

FEATURES = ("history_length", "genre_entropy", "mainstream")
LEVELS = ("low", "middle", "high")


def genre_entropy(genres: np.ndarray, history: np.ndarray) -> float:
    """Entropy in bits of the genre mix of ``history`` (multi-hot rows, each item's genres share one vote)."""
    rows = genres[np.asarray(history, dtype=np.int64)]
    if len(rows) == 0:
        return 0.0
    votes = (rows / np.maximum(rows.sum(axis=1, keepdims=True), 1)).sum(axis=0)
    p = votes[votes > 0] / votes.sum()
    return float(-(p * np.log2(p)).sum())


def user_features(split: Split, held: HeldOut) -> dict[str, np.ndarray]:
    """The three descriptions of every held-out user's input half."""
    log_counts = np.log1p(split.item_counts.astype(np.float64))
    return {
        "history_length": np.array([len(h) for h in held.inputs], dtype=np.float64),
        "genre_entropy": np.array([genre_entropy(split.catalogue.genres, h) for h in held.inputs]),
        "mainstream": np.array([log_counts[np.asarray(h, dtype=np.int64)].mean() if len(h) else 0.0
                                for h in held.inputs]),
    }


@dataclass
class Segments:
    features: dict[str, np.ndarray]  # feature -> value per user
    levels: dict[str, np.ndarray]  # feature -> 0 / 1 / 2 (low / middle / high) per user
    cuts: dict[str, tuple[float, float]]  # feature -> the two tertile boundaries

    def members(self, feature: str, level: str) -> np.ndarray:
        """Row indices (into the held-out users) of one segment."""
        return np.flatnonzero(self.levels[feature] == LEVELS.index(level))

    def value_range(self, feature: str, level: str) -> tuple[float, float]:
        values = self.features[feature][self.members(feature, level)]
        return (float(values.min()), float(values.max())) if len(values) else (np.nan, np.nan)


def segment_users(split: Split, held: HeldOut) -> Segments:
    features = user_features(split, held)
    levels, cuts = {}, {}
    for name, values in features.items():
        low, high = np.quantile(values, [1 / 3, 2 / 3])
        cuts[name] = (float(low), float(high))
        levels[name] = np.where(values <= low, 0, np.where(values <= high, 1, 2))
    return Segments(features, levels, cuts)


def segment_table(per_user: dict[str, np.ndarray], segments: Segments, baseline: str = "two_tower") -> list[dict]:
    """One row per (feature, level, method): recall@50 with its interval and the paired difference to ``baseline``.

    ``per_user`` maps a method to its per-user recall, [n_users] or [n_seeds, n_users] (averaged over seeds).
    """
    means = {m: (np.asarray(v).mean(axis=0) if np.asarray(v).ndim == 2 else np.asarray(v)) for m, v in per_user.items()}
    rows = []
    for feature in segments.features:
        for level in LEVELS:
            idx = segments.members(feature, level)
            if len(idx) < 2:
                continue
            lo, hi = segments.value_range(feature, level)
            for method, values in means.items():
                recall = bootstrap_mean(values[idx])
                row = {"feature": feature, "level": level, "n_users": int(len(idx)), "min": lo, "max": hi,
                       "method": method, "recall@50": recall.mean, "low": recall.low, "high": recall.high}
                if baseline in means and method != baseline:
                    diff = paired_difference(values[idx], means[baseline][idx])
                    row.update({"diff": diff.mean, "diff_low": diff.low, "diff_high": diff.high,
                                "verdict": diff.verdict})
                rows.append(row)
    return rows
