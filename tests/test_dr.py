"""Deep Retrieval: lattice probabilities, beam search oracle, π step, collapse, retriever."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from recall_core.dr import (DeepRetrieval, DRConfig, DRModel, PathCandidates, assign_paths, beam_search_paths,
                            dr_state, greedy_paths, item_objective, path_codes, path_ids, path_size_stats, penalty,
                            restore_dr, total_objective, train_dr)
from recall_core.protocol import Popularity, evaluate

SMALL = DRConfig(width=4, depth=3, paths_per_item=3, beam=8, dim=16, code_dim=8, hidden=32, epochs=4,
                 round_epochs=1, em_rounds=1, batch_size=256, rerank_negatives=32, alpha=1e-2)


@pytest.fixture(scope="module")
def model(synthetic):
    torch.manual_seed(0)
    return DRModel(synthetic, SMALL).eval()


def test_probabilities_of_all_paths_sum_to_one(model, synthetic):
    x = model.encode(torch.as_tensor(np.random.default_rng(0).integers(0, synthetic.n_items, (5, 20))))
    total = model.all_path_log_probs(x).exp().sum(1)
    assert torch.allclose(total, torch.ones(5), atol=1e-5)
    assert model.all_path_log_probs(x).shape == (5, SMALL.width ** SMALL.depth)


def test_beam_search_with_full_beam_equals_exhaustive_enumeration(model, synthetic):
    x = model.encode(torch.as_tensor(np.random.default_rng(1).integers(0, synthetic.n_items, (6, 20))))
    beam = SMALL.width ** (SMALL.depth - 1)
    paths, logp, evaluated, _ = beam_search_paths(model, x, beam)
    exhaustive = model.all_path_log_probs(x)
    top, idx = torch.topk(exhaustive, beam, dim=1)
    assert torch.allclose(logp, top, atol=1e-5)
    assert np.array_equal(np.sort(path_ids(paths.numpy(), SMALL.width), 1), np.sort(idx.numpy(), 1))
    K = SMALL.width
    assert evaluated == sum(min(beam, K ** d) * K for d in range(SMALL.depth))  # node probabilities computed


def test_path_ids_roundtrip():
    codes = np.array([[0, 0, 0], [1, 2, 3], [3, 3, 3]])
    ids = path_ids(codes, 4)
    assert ids.tolist() == [0, 1 * 16 + 2 * 4 + 3, 63]
    assert np.array_equal(path_codes(ids, 4, 3), codes)


def random_candidates(n_items, n_paths, rng, per_item=6, concentrated=True):
    items, paths, scores = [], [], []
    for v in range(n_items):
        # concentrated: every item prefers the same few paths (what makes α = 0 collapse)
        pool = np.arange(4) if concentrated else rng.choice(n_paths, per_item, replace=False)
        chosen = rng.choice(np.union1d(pool, rng.choice(n_paths, per_item, replace=False)), per_item, replace=False)
        items += [v] * per_item
        paths += chosen.tolist()
        scores += (rng.random(per_item) + np.isin(chosen, pool) * 3).tolist()
    return PathCandidates(np.array(items), np.array(paths), np.array(scores), rng.integers(1, 30, n_items))


def test_greedy_coordinate_steps_never_lower_the_objective():
    rng = np.random.default_rng(3)
    n_items, n_paths, J, alpha = 120, 64, 3, 1e-3
    cands = random_candidates(n_items, n_paths, rng)
    pi = np.stack([rng.choice(n_paths, J, replace=False) for _ in range(n_items)])
    values = [total_objective(cands, pi, n_paths, alpha)]
    deltas = []
    assign_paths(cands, pi, n_paths, alpha, sweeps=2, rng=rng, on_step=lambda v, old, new: deltas.append(new - old))
    assert min(deltas) >= 0
    new_pi = assign_paths(cands, pi, n_paths, alpha, sweeps=2, rng=np.random.default_rng(3))
    assert total_objective(cands, new_pi, n_paths, alpha) >= values[0]


def test_each_item_always_has_exactly_j_distinct_paths():
    rng = np.random.default_rng(4)
    cands = random_candidates(80, 27, rng)
    pi = np.stack([rng.choice(27, 3, replace=False) for _ in range(80)])
    for alpha in (0.0, 1e-2, 1.0):
        new = assign_paths(cands, pi, 27, alpha, sweeps=3, rng=rng)
        assert new.shape == (80, 3)
        assert all(len(set(row.tolist())) == 3 for row in new)
        assert new.min() >= 0 and new.max() < 27


def test_penalty_spreads_items_that_collapse_without_it():
    rng = np.random.default_rng(5)
    n_items, n_paths = 200, 125
    cands = random_candidates(n_items, n_paths, rng)
    pi = np.stack([rng.choice(n_paths, 3, replace=False) for _ in range(n_items)])
    free = path_size_stats(assign_paths(cands, pi, n_paths, 0.0, 3, np.random.default_rng(0)), n_paths)
    penalised = path_size_stats(assign_paths(cands, pi, n_paths, 1e-3, 3, np.random.default_rng(0)), n_paths)
    assert free["largest_path"] > penalised["largest_path"]
    assert free["largest_path"] >= 100  # most items pile onto the same few popular paths
    assert penalised["non_empty_paths"] > free["non_empty_paths"] and penalised["gini"] < free["gini"]


def test_greedy_gain_matches_the_paper_formula():
    sizes = np.array([0.0, 5.0, 2.0, 9.0])
    paths, scores = np.array([1, 2, 3]), np.array([0.5, 0.3, 0.9])
    chosen = greedy_paths(10.0, paths, scores, sizes, 2, alpha=0.01)
    # first pick: everything gains ~N_v log(s / eps); the penalty decides only between near-equal gains
    gain3 = 10 * np.log(0.9 / 1e-12) - 0.01 * (penalty(10) - penalty(9))
    gain1 = 10 * np.log(0.5 / 1e-12) - 0.01 * (penalty(6) - penalty(5))
    assert chosen[0] == (3 if gain3 > gain1 else 1)
    assert len(set(chosen)) == 2
    value = item_objective(10.0, {1: 0.5, 2: 0.3, 3: 0.9}, chosen, sizes, 0.01)
    assert np.isfinite(value)


@pytest.fixture(scope="module")
def small_dr(synthetic):
    return train_dr(synthetic, SMALL, seed=0)


def test_training_and_retrieval_on_synthetic(small_dr, synthetic):
    report = evaluate(small_dr, synthetic)
    assert report["recall@50"] > evaluate(Popularity(synthetic), synthetic)["recall@50"]
    assert report["bruteforce_recall@50"] >= report["recall@50"] - 0.05
    assert all(len(set(row.tolist())) == SMALL.paths_per_item for row in small_dr.pi)
    result = small_dr.retrieve(synthetic.test.inputs[:3], 10, trace=True)
    trace = result.traces[0]
    assert [s.stage for s in trace.steps] == ["layer 1", "layer 2", "layer 3", "rerank"]
    for step in trace.steps[:-1]:
        top = step.scored[np.argsort(-step.scores, kind="stable")][: len(step.kept)]
        assert set(top.tolist()) == set(step.kept.tolist())  # the beam keeps the B most probable prefixes
    assert trace.n_scored == sum(len(s.scored) for s in trace.steps)
    assert not set(result.items[0].tolist()) & set(synthetic.test.inputs[0].tolist())


def test_dr_artifact_roundtrip(small_dr, synthetic):
    state, arrays = dr_state(small_dr)
    restored = restore_dr(synthetic, SMALL, {"state": state, "arrays": arrays, "log": small_dr.log}, torch.device("cpu"))
    held = synthetic.test
    assert np.array_equal(restored.retrieve(held.inputs, 10).items, small_dr.retrieve(held.inputs, 10).items)
    assert restored.candidates is not None and len(restored.candidates.items) == len(small_dr.candidates.items)


@pytest.mark.slow
def test_dr_on_ml100k(trained, ml100k):
    from recall_core.dr import rerun_path_step

    dr = trained("dr")
    report = evaluate(dr, ml100k)
    floor = evaluate(Popularity(ml100k), ml100k)["recall@50"]
    assert report["recall@50"] >= 0.9 * report["bruteforce_recall@50"]
    assert report["recall@50"] > floor + 0.04
    # the penalty at work: without it the same candidates collapse onto far fewer, far larger paths
    free = path_size_stats(rerun_path_step(dr, 0.0), dr.n_paths)
    assert free["largest_path"] > 3 * report["paths_largest_path"]
    assert free["non_empty_paths"] < report["paths_non_empty_paths"]
    assert [row["beam"] for row in dr.log["budget_curve"]] == sorted(row["beam"] for row in dr.log["budget_curve"])
