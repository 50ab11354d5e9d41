"""How we decide "better": per-user figures, paired bootstrap intervals, seeds.

A difference between two methods is read from the per-user paired difference on the
same test users (Efron & Tibshirani, "An Introduction to the Bootstrap", ch. 16):
resample users with replacement, take the mean difference each time, and report the
2.5 / 97.5 percentiles.  "Better" means the whole interval is above zero, "worse"
below; otherwise the two are within noise on this many users.  Over several seeds a
user's figure is first averaged over the seeds, so the interval covers both the
choice of users and the training noise that the seeds show.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .protocol import per_user_recall  # noqa: F401  (re-exported: one place for the metric)

N_BOOTSTRAP = 2000


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    n: int

    @property
    def verdict(self) -> str:
        """'better' / 'worse' when the interval excludes 0, else 'within noise'."""
        if self.low > 0:
            return "better"
        if self.high < 0:
            return "worse"
        return "within noise"

    def as_dict(self) -> dict:
        return dict(asdict(self), verdict=self.verdict)


def bootstrap_mean(values: np.ndarray, level: float = 0.95, n_boot: int = N_BOOTSTRAP, seed: int = 0) -> Interval:
    """Percentile bootstrap interval of the mean of ``values`` (one value per user)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or len(values) == 0:
        raise ValueError("bootstrap_mean needs a non-empty 1-d array of per-user values")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(n_boot, len(values)))].mean(axis=1)
    tail = (1.0 - level) / 2
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return Interval(float(values.mean()), float(low), float(high), len(values))


def paired_difference(method: np.ndarray, baseline: np.ndarray, **kwargs) -> Interval:
    """Interval of mean(method - baseline) over the same users (rows aligned).

    Either argument may be [n_seeds, n_users]: each user's value is averaged over seeds first.
    """
    a, b = _seed_mean(method), _seed_mean(baseline)
    if a.shape != b.shape:
        raise ValueError(f"paired figures must cover the same users: {a.shape} vs {b.shape}")
    return bootstrap_mean(a - b, **kwargs)


def _seed_mean(values) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return values.mean(axis=0) if values.ndim == 2 else values


def seed_summary(values: list[float]) -> dict:
    """Mean and (population) standard deviation over seeds, with the per-seed values."""
    values = [float(v) for v in values]
    return {"mean": float(np.mean(values)), "std": float(np.std(values)), "per_seed": values}
