"""Deep Retrieval learned for the scale study's scorer (recall_core/scale/dr_index.py)."""
from __future__ import annotations

import numpy as np
import pytest

from recall_core.scale.base import Found
from recall_core.scale.dr_index import (Candidates, DRIndex, build_dr, m_step, objective, penalty, untrained_dr)
from recall_core.scale.world import exact_top, make_world, sample_queries, training_set

FAST = dict(epochs=2, round_epochs=1, em_rounds=1)  # enough for the structural tests


@pytest.fixture(scope="module")
def small():
    world = make_world(600, lam=1.0, seed=0)
    return world, training_set(world, 300, seed=0)


def test_full_beam_returns_the_scorers_exact_top(small):
    """B = K^D keeps every path that holds an item, so every item is reranked: exactly the scorer's top-k."""
    world, train = small
    queries = sample_queries(world, 20, seed=1)
    exact = exact_top(world, queries, 20)
    for index in (build_dr(world, train, 0, **FAST), untrained_dr(world, 0)):
        assert index.settings() == sorted(index.settings()) and index.settings()[-1] == index.width ** index.depth
        for q, truth in zip(queries, exact):
            found = index.search(q, 20, index.width ** index.depth)
            assert isinstance(found, Found) and len(found.items) == 20
            assert set(found.items.tolist()) == set(truth.tolist())
        assert index.nbytes() > 0


def test_protocol_and_log(small):
    world, train = small
    index = build_dr(world, train, 0, **FAST)
    assert (index.name, index.knob, untrained_dr(world, 0).name) == ("dr", "beam", "dr_untrained")
    assert index.paths.shape == (world.n, 3)  # J = 3
    log = index.log
    assert [r["round"] for r in log["rounds"]] == [0, 1] and log["chosen_round"] in (0, 1)
    assert log["rounds"][1]["objective_after"] >= log["rounds"][1]["objective_before"]
    assert {"max_path", "mean_path", "used_paths", "seconds", "validation"} <= set(log["rounds"][1])
    assert 0 < log["validation"]["recall"] <= 1 and log["validation"]["evaluations"] > 0


def _tiny_index() -> DRIndex:
    """4 items, K = 2, D = 2 (4 paths), J = 2: item 0 on paths 0 and 1, item 1 on 1 and 2, item 2 on 2 and 3,
    item 3 on 3 and 0. The model ignores the query: p(c_1) = softmax(2, 0), p(c_2 | c_1) = softmax(1, 0)."""
    world = make_world(4, lam=0.0, seed=0)
    zeros = lambda *shape: np.zeros(shape, dtype=np.float32)
    layers = [(zeros(1, 16), zeros(1), [zeros(2, 1)] * d, zeros(2, 1), np.array(bias, dtype=np.float32))
              for d, bias in enumerate([(2.0, 0.0), (1.0, 0.0)])]
    return DRIndex(world, np.array([[0, 1], [1, 2], [2, 3], [3, 0]]), 2, 2, "dr", layers=layers)


def test_evaluation_count_by_hand():
    index = _tiny_index()
    q = np.ones(16, dtype=np.float32) / 4
    # B = 1: layer 1 costs K = 2 logits, layer 2 one prefix x K = 2; path (0, 0) = path 0 holds items 0 and 3
    found = index.search(q, 10, 1)
    assert found.evaluations == 2 + 2 + 2 and set(found.items.tolist()) == {0, 3}
    # B = 2: 2 + 2 x 2 logits; best paths (0, 0) and (0, 1) = paths 0 and 1: items {0, 3} and {0, 1}, deduplicated
    found = index.search(q, 10, 2)
    assert found.evaluations == 2 + 4 + 3 and set(found.items.tolist()) == {0, 1, 3}
    # the scorer reranks: best first
    scores = index.world.scorer.score(index.world.scorer.query_state(q), index.world.items[found.items])
    assert np.all(np.diff(scores) <= 0)


def _crowded(n_items=40, n_paths=10):
    """Every item's best path is path 0 (s = 1.0, one query each); path 1 is a little better than the rest."""
    item = np.repeat(np.arange(n_items), n_paths)
    path = np.tile(np.arange(n_paths), n_items)
    s = np.where(path == 0, 1.0, np.where(path == 1, 0.6, 0.5))
    return Candidates(item, path, s, np.ones(n_items)), np.zeros((n_items, 1), dtype=np.int64), n_paths


def test_penalty_spreads_a_crowded_path():
    cands, pi, n_paths = _crowded()
    rng = np.random.default_rng(0)
    collapsed, _ = m_step(cands, pi, n_paths, 0.0, 2, rng)
    assert np.bincount(collapsed.ravel(), minlength=n_paths).max() == 40  # alpha = 0: everyone on path 0
    spread, moved = m_step(cands, pi, n_paths, 1e-3, 2, rng)
    sizes = np.bincount(spread.ravel(), minlength=n_paths)
    assert moved > 0 and sizes.max() < 10 and (sizes > 0).sum() == n_paths
    assert penalty(4) == 64.0


@pytest.mark.parametrize("alpha, chunks", [(1e-3, 1), (1e-3, 4), (1e-1, 1), (1e-5, 16)])
def test_m_step_never_lowers_the_objective(alpha, chunks):
    """One chunk holding every item: all leave path 0 for path 1 at once unless the chunk is split."""
    cands, pi, n_paths = _crowded()
    rng = np.random.default_rng(1)
    value = objective(cands, pi, n_paths, alpha)
    for _ in range(3):
        pi, _ = m_step(cands, pi, n_paths, alpha, 1, rng, chunks=chunks)
        assert objective(cands, pi, n_paths, alpha) >= value - 1e-9 * abs(value)
        value = objective(cands, pi, n_paths, alpha)
    # random candidates, J = 2
    rng = np.random.default_rng(2)
    n, n_paths = 300, 50
    item = np.repeat(np.arange(n), 12)
    path = np.concatenate([rng.choice(n_paths, 12, replace=False) for _ in range(n)])
    cands = Candidates(item, path, rng.random(len(item)), rng.integers(1, 5, n).astype(float))
    pi = path.reshape(n, 12)[:, :2].copy()
    before = objective(cands, pi, n_paths, alpha)
    after, _ = m_step(cands, pi, n_paths, alpha, 2, rng, chunks=chunks)
    assert objective(cands, after, n_paths, alpha) >= before


def _curve(index, queries, exact):
    points = []
    for b in index.settings():
        found = [index.search(q, 50, b) for q in queries]
        points.append((np.mean([f.evaluations for f in found]),
                       np.mean([len(np.intersect1d(f.items, t)) / 50 for f, t in zip(found, exact)])))
    return np.array(points)


@pytest.mark.parametrize("lam", [0.0, 1.0])
def test_learned_lattice_beats_untrained_at_equal_budget(lam):
    """At every budget of the untrained sweep (recall < 0.9), the learned recall there (interpolated) is higher.
    Margins on world seeds 0-2: lam = 0 0.02-0.05, lam = 1 0.08-0.21."""
    world = make_world(2000, lam=lam, seed=0)
    index = build_dr(world, training_set(world, 2000, seed=0), 0)
    queries = sample_queries(world, 200, seed=1)
    exact = exact_top(world, queries)
    learned, untrained = _curve(index, queries, exact), _curve(untrained_dr(world, 0), queries, exact)
    budgets = untrained[(untrained[:, 0] >= learned[0, 0]) & (untrained[:, 1] < 0.9), :]  # where there is room
    assert len(budgets) >= 3
    gaps = np.interp(budgets[:, 0], learned[:, 0], learned[:, 1]) - budgets[:, 1]
    assert gaps.min() > 0 and gaps.mean() > 0.02
