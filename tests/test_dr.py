"""Deep Retrieval: lattice probabilities, beam search oracle, π step, collapse, retriever."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from recall_core.dr import (DeepRetrieval, DRConfig, DRModel, PathCandidates, assign_paths, beam_search_paths,
                            dr_state, greedy_paths, item_objective, path_codes, path_gain, path_ids, path_size_stats, penalty,
                            recall_at_50, restore_dr, total_objective, train_dr)
from recall_core.data import history_matrix
from recall_core.encoders import GRUEncoder
from recall_core.protocol import Popularity, evaluate

SMALL = DRConfig(width=4, depth=3, paths_per_item=3, beam=8, dim=16, code_dim=8, hidden=32, epochs=4,
                 round_epochs=1, em_rounds=1, batch_size=256, rerank_negatives=32, alpha=1e-2, rerank_lr=1e-2)


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


def test_gru_encoder_ignores_left_padding():
    """Oracle: a left-padded row gives the GRU state of the same history fed without padding."""
    torch.manual_seed(0)
    encoder = GRUEncoder(6, 5)
    values, lengths = torch.randn(4, 7, 6), [7, 3, 1, 0]
    mask = torch.stack([torch.arange(7) >= 7 - n for n in lengths])
    padded = encoder(values * mask[..., None], mask)  # the padded positions hold zeros (padding_idx)
    for row, n in enumerate(lengths[:3]):
        _, alone = encoder.gru(values[row:row + 1, 7 - n:])
        assert torch.allclose(padded[row], alone[-1, 0], atol=1e-6)
    assert torch.equal(padded[3], torch.zeros(5))  # an empty history: the zero state


def test_gru_user_encoder_is_padding_free_and_order_aware(synthetic):
    torch.manual_seed(0)
    gru = DRModel(synthetic, dataclasses.replace(SMALL, encoder="gru")).eval()
    history = np.array([3, 17, 5, 42, 8])
    padded = torch.as_tensor(history_matrix([history], synthetic.config.max_len, synthetic.pad))
    with torch.no_grad():
        assert torch.allclose(gru.encode(padded), gru.encode(torch.as_tensor(history[None, :])), atol=1e-6)
        reversed_ = gru.encode(torch.as_tensor(history[None, ::-1].copy()))
        assert not torch.allclose(gru.encode(padded), reversed_, atol=1e-4)  # a sequence model, unlike pooling
    with pytest.raises(ValueError, match="encoder"):
        DRModel(synthetic, dataclasses.replace(SMALL, encoder="lstm"))


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


def near_tie_candidates(n_items, n_paths, rng, popular=0, per_item=5):
    """Every item scores its own random paths 1.0 (± 0.001) and one popular path 1.05: the data
    prefers the popular path only slightly, so nothing in it forces the items onto one path."""
    items, paths, scores = [], [], []
    for v in range(n_items):
        own = rng.choice(np.setdiff1d(np.arange(n_paths), [popular]), per_item, replace=False)
        items += [v] * (per_item + 1)
        paths += [popular, *own.tolist()]
        scores += [1.05, *(1.0 + rng.uniform(-1e-3, 1e-3, per_item)).tolist()]
    return PathCandidates(np.array(items), np.array(paths), np.array(scores), rng.integers(1, 30, n_items))


def test_without_the_penalty_near_ties_collapse_onto_the_popular_path():
    rng = np.random.default_rng(5)
    n_items, n_paths = 200, 125
    cands = near_tie_candidates(n_items, n_paths, rng)
    pi = np.stack([rng.choice(n_paths, 3, replace=False) for _ in range(n_items)])
    free_pi = assign_paths(cands, pi, n_paths, 0.0, 3, np.random.default_rng(0))
    free = path_size_stats(free_pi, n_paths)
    penalised_pi = assign_paths(cands, pi, n_paths, 1e-3, 3, np.random.default_rng(0))
    penalised = path_size_stats(penalised_pi, n_paths)
    # α = 0: a 5 % better score is enough for every item to take the popular path
    assert free["largest_path"] == n_items and (free_pi == 0).any(1).all()
    # α > 0: the marginal cost α [f(n+1) - f(n)] ~ α n^3 caps it near (0.05 N_v / α)^(1/3) ~ 10 items
    assert penalised["largest_path"] <= 20
    assert penalised["gini"] < free["gini"] - 0.1 and penalised["non_empty_paths"] >= free["non_empty_paths"]
    # and the spread costs almost nothing in likelihood (the scores were nearly tied)
    likelihood = total_objective(cands, penalised_pi, n_paths, 0.0) - total_objective(cands, free_pi, n_paths, 0.0)
    assert -0.02 * cands.counts.sum() < likelihood <= 0


# A hand-worked π step (Sec. 3.4) with f(|c|) = |c|^4 / 4, alpha = 0.1, N_v = 2, J = 2 and four paths.
# Other items occupy the paths with sizes |c| = [2, 3, 0, 0], so the marginal penalties f(|c|+1) - f(|c|) are
# (81 - 16) / 4 = 16.25, (256 - 81) / 4 = 43.75, 0.25, 0.25.  Item v's path scores s = [0.4, 0.5, 0.1, 0].
HAND_SIZES = np.array([2.0, 3.0, 0.0, 0.0])
HAND_PATHS, HAND_S = np.array([0, 1, 2, 3]), np.array([0.4, 0.5, 0.1, 0.0])


def test_greedy_gain_equals_hand_computed_values():
    # first pick (S_prev = 0): 2 [log(s + 1e-12) - log(1e-12)] - 0.1 [f(|c|+1) - f(|c|)]
    #   c0: 2 (log 0.4 + 27.631021) - 1.625 = 51.804460   c1: 2 (log 0.5 + 27.631021) - 4.375 = 49.500748
    #   c2: 2 (log 0.1 + 27.631021) - 0.025 = 50.631872   c3: 2 (log 1e-12 - log 1e-12) - 0.025 = -0.025
    first = path_gain(2.0, 0.0, HAND_S, HAND_SIZES, 0.1)
    assert np.allclose(first, [51.804460, 49.500748, 50.631872, -0.025], atol=1e-5)
    # second pick after c0 (S_prev = 0.4): c1: 2 log(0.9 / 0.4) - 4.375 = -2.753140
    #   c2: 2 log(0.5 / 0.4) - 0.025 = 0.421287   c3: -0.025
    second = path_gain(2.0, 0.4, HAND_S[1:], HAND_SIZES[1:], 0.1)
    assert np.allclose(second, [-2.753140, 0.421287, -0.025], atol=1e-5)


def test_greedy_step_picks_the_hand_derived_paths():
    # without the penalty the two best scores win (c1 = 0.5, c0 = 0.4); with it c1 is too crowded: c0 then c2
    assert greedy_paths(2.0, HAND_PATHS, HAND_S, HAND_SIZES, 2, alpha=0.0) == [1, 0]
    assert greedy_paths(2.0, HAND_PATHS, HAND_S, HAND_SIZES, 2, alpha=0.1) == [0, 2]
    s_of = dict(zip(HAND_PATHS.tolist(), HAND_S.tolist()))
    # item objective: 2 log(0.4 + 0.1) - 0.1 (16.25 + 0.25) = -3.036294 beats 2 log 0.9 - 0.1 (43.75 + 16.25)
    assert item_objective(2.0, s_of, [0, 2], HAND_SIZES, 0.1) == pytest.approx(-3.036294, abs=1e-5)
    assert item_objective(2.0, s_of, [1, 0], HAND_SIZES, 0.1) == pytest.approx(-6.210721, abs=1e-5)


def test_total_objective_equals_hand_computed_value():
    # two items on four paths, J = 2: item 0 (N = 2) on paths 0, 1 with s = 0.4, 0.5; item 1 (N = 3) on 1, 3
    # with s = 0.6, 0.2.  Sizes [1, 2, 0, 1]: sum f = 0.25 + 4 + 0 + 0.25 = 4.5.
    # 2 log 0.9 + 3 log 0.8 - 0.1 * 4.5 = -0.210721 - 0.669431 - 0.45 = -1.330152
    cands = PathCandidates(np.array([0, 0, 0, 1, 1]), np.array([0, 1, 2, 1, 3]),
                           np.array([0.4, 0.5, 0.1, 0.6, 0.2]), np.array([2, 3]))
    pi = np.array([[0, 1], [1, 3]])
    assert total_objective(cands, pi, 4, 0.1) == pytest.approx(-1.330152, abs=1e-5)
    assert penalty(np.array([0, 1, 2, 3])).tolist() == [0.0, 0.25, 4.0, 20.25]


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


def test_reranker_keeps_its_best_validation_epoch(small_dr, synthetic):
    # early stopping: the final reranker is the epoch with the best validation recall@50 over all items
    log = small_dr.log["rerank"]
    assert log["best_epoch"] == int(np.argmax(log["valid"]))
    brute = small_dr.brute_force(synthetic.valid.inputs, 50).items
    assert recall_at_50(brute, synthetic.valid) == pytest.approx(max(log["valid"]), abs=1e-9)


def test_dr_artifact_roundtrip(small_dr, synthetic):
    state, arrays = dr_state(small_dr)
    restored = restore_dr(synthetic, SMALL, {"state": state, "arrays": arrays, "log": small_dr.log}, torch.device("cpu"))
    held = synthetic.test
    assert np.array_equal(restored.retrieve(held.inputs, 10).items, small_dr.retrieve(held.inputs, 10).items)
    assert restored.candidates is not None and len(restored.candidates.items) == len(small_dr.candidates.items)
    assert np.array_equal(restored.rerun_paths[0.0], small_dr.rerun_paths[0.0])  # the page's default view


def test_the_stored_pi_step_is_what_a_rerun_computes(small_dr):
    from recall_core.dr import STORED_ALPHAS, assign_paths, rerun_path_step

    assert set(small_dr.rerun_paths) == set(STORED_ALPHAS) == {0.0}
    c = small_dr.candidates
    fresh = assign_paths(c, small_dr.pi, small_dr.n_paths, 0.0, small_dr.cfg.sweeps, np.random.default_rng(0))
    assert np.array_equal(rerun_path_step(small_dr, 0.0), fresh)
    assert rerun_path_step(small_dr, 0.0) is small_dr.rerun_paths[0.0]  # read, not recomputed
    assert not np.array_equal(rerun_path_step(small_dr, 1e-2), fresh)  # other alphas are computed


def test_a_large_pi_step_stores_every_alpha_of_the_page(small_dr, synthetic):
    """Above the threshold of item visits every α of the DR page is made at training time, each what a rerun
    computes, and the artifact keeps them all."""
    import copy

    from recall_core.dr import PAGE_ALPHAS, assign_paths, store_pi_steps

    big = copy.copy(small_dr)
    big.rerun_paths = {}
    store_pi_steps(big, above=len(big.pi) * big.cfg.sweeps - 1)  # as if the catalogue were larger
    assert set(big.rerun_paths) == set(PAGE_ALPHAS)
    c = big.candidates
    for alpha in PAGE_ALPHAS:
        fresh = assign_paths(c, big.pi, big.n_paths, alpha, big.cfg.sweeps, np.random.default_rng(0))
        assert np.array_equal(big.rerun_paths[alpha], fresh), alpha
    assert len({big.rerun_paths[a].tobytes() for a in PAGE_ALPHAS}) > 1  # the penalty changes the paths
    state, arrays = dr_state(big)
    restored = restore_dr(synthetic, SMALL, {"state": state, "arrays": arrays, "log": big.log}, torch.device("cpu"))
    assert set(restored.rerun_paths) == set(PAGE_ALPHAS)
    assert all(np.array_equal(restored.rerun_paths[a], big.rerun_paths[a]) for a in PAGE_ALPHAS)
    small = copy.copy(small_dr)
    small.rerun_paths = {}
    store_pi_steps(small, above=len(small.pi) * small.cfg.sweeps)  # at the threshold: only the default
    assert set(small.rerun_paths) == {0.0}


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
