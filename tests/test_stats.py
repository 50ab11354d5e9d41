"""Paired bootstrap intervals, per-user recall and user segments."""
from __future__ import annotations

import numpy as np
import pytest

from recall_core.segments import LEVELS, genre_entropy, segment_table, segment_users
from recall_core.stats import bootstrap_mean, paired_difference, per_user_recall, seed_summary


def test_per_user_recall_hand_computed():
    items = np.array([[1, 2, 3, -1], [4, 5, 6, 7]])
    truths = [np.array([2, 9]), np.array([8])]
    assert per_user_recall(items, truths, k=4).tolist() == [0.5, 0.0]
    assert per_user_recall(items, truths, k=1).tolist() == [0.0, 0.0]


def test_bootstrap_interval_has_the_normal_width_and_covers_the_mean():
    rng = np.random.default_rng(1)
    values = rng.normal(0.3, 0.2, size=400)
    ci = bootstrap_mean(values)
    half = 1.96 * values.std() / np.sqrt(len(values))
    assert ci.low < values.mean() < ci.high
    assert (ci.high - ci.low) / 2 == pytest.approx(half, rel=0.15)


def test_paired_difference_verdicts():
    rng = np.random.default_rng(2)
    base = rng.uniform(0, 1, size=200)
    same = paired_difference(base, base)
    assert (same.mean, same.low, same.high, same.verdict) == (0.0, 0.0, 0.0, "within noise")
    assert paired_difference(base + 0.1, base).verdict == "better"
    assert paired_difference(base - 0.1, base).verdict == "worse"
    noisy = base + rng.normal(0, 0.3, size=200)  # no true shift, large per-user noise
    assert paired_difference(noisy, base).verdict == "within noise"


def test_paired_difference_averages_seeds_per_user_first():
    base = np.array([0.2, 0.4, 0.6])
    seeds = np.array([[0.3, 0.5, 0.7], [0.1, 0.3, 0.5], [0.2, 0.4, 0.6]])  # user means equal the baseline
    assert paired_difference(seeds, base).mean == pytest.approx(0.0)
    with pytest.raises(ValueError):
        paired_difference(seeds, base[:2])


def test_seed_summary():
    s = seed_summary([0.1, 0.2, 0.3])
    assert s["mean"] == pytest.approx(0.2) and s["std"] == pytest.approx(np.std([0.1, 0.2, 0.3]))


def test_genre_entropy_hand_computed():
    genres = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0]], dtype=np.float32)
    assert genre_entropy(genres, np.array([0, 0])) == 0.0
    assert genre_entropy(genres, np.array([0, 1])) == pytest.approx(1.0)
    # item 2 splits its vote: votes (1.5, 0.5) -> H = -(0.75 log 0.75 + 0.25 log 0.25) = 0.811 bits
    assert genre_entropy(genres, np.array([0, 2])) == pytest.approx(0.811278, abs=1e-5)


def test_segments_cut_users_in_thirds_and_compare_to_baseline(synthetic):
    held = synthetic.test
    seg = segment_users(synthetic, held)
    for feature, levels in seg.levels.items():
        sizes = [len(seg.members(feature, level)) for level in LEVELS]
        assert sum(sizes) == len(held)
        assert min(sizes) >= 0.2 * len(held) or feature == "history_length"  # ties may pile up on lengths
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 1, size=len(held))
    better = np.clip(base + 0.2, 0, None)
    rows = segment_table({"two_tower": base, "x": better}, seg)
    mine = [r for r in rows if r["method"] == "x"]
    assert mine and all(r["verdict"] == "better" and r["diff"] == pytest.approx(0.2) for r in mine)
    assert all("verdict" not in r for r in rows if r["method"] == "two_tower")


def test_segment_figure_draws_intervals_and_paired_differences():
    from recall_core.viz.compare import segment_figure

    rows = [{"feature": "mainstream", "level": "low", "n_users": 50, "min": 1.0, "max": 2.0, "method": m,
             "recall@50": r, "low": r - 0.02, "high": r + 0.03, **extra}
            for m, r, extra in (("two_tower", 0.30, {}),
                                ("nann", 0.35, {"diff": 0.05, "diff_low": 0.01, "diff_high": 0.09, "verdict": "better"}))]
    fig = segment_figure(rows + [dict(rows[0], level="high")], "mainstream", "low")
    bar = fig.data[0]
    assert list(bar.x) == ["two_tower", "nann"] and list(bar.y) == [0.30, 0.35]
    assert list(bar.error_y.array) == pytest.approx([0.03, 0.03]) and list(bar.error_y.arrayminus) == pytest.approx([0.02, 0.02])
    assert "+0.050 (better)" in bar.text[1] and "(" not in bar.text[0]


def test_segment_members_are_the_segment_users(synthetic):
    from recall_core.compare import segment_members

    seg = segment_users(synthetic, synthetic.test)
    members = segment_members(synthetic, "genre_entropy", "high")
    expected = {int(synthetic.raw_users[synthetic.test.users[r]]) for r in seg.members("genre_entropy", "high")}
    assert {u for u, _ in members} == expected
    values = [v for _, v in members]
    assert abs(values[0] - np.median(values)) <= abs(values[-1] - np.median(values))
