"""Two-tower: loss, log-Q softmax, ANN vs exact, quality on ml-100k."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from recall_core.protocol import Popularity, evaluate
from recall_core.two_tower import TwoTowerConfig, in_batch_softmax_loss, train_two_tower

FAST = TwoTowerConfig(dim=32, hidden=64, epochs=6, batch_size=256)


@pytest.fixture(scope="module")
def small_model(synthetic):
    return train_two_tower(synthetic, FAST, seed=0)


def test_training_reduces_loss_and_beats_popularity(small_model, synthetic):
    losses = small_model.log["losses"]
    assert losses[-1] < 0.92 * losses[0]  # in-batch softmax over ~256 items: log(256) = 5.5 at start
    assert evaluate(small_model, synthetic)["recall@50"] > evaluate(Popularity(synthetic), synthetic)["recall@50"]


def test_in_batch_loss_masks_duplicate_positives():
    u = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    v = u.clone()
    targets = torch.tensor([3, 3, 5, 6])
    log_q = torch.zeros(10)
    loss = in_batch_softmax_loss(u, v, targets, log_q, temperature=0.05)
    # rows 0 and 1 share item 3: each must not count the other as a negative
    logits = u @ v.T / 0.05
    logits[0, 1] = logits[1, 0] = -torch.inf
    expected = torch.nn.functional.cross_entropy(logits, torch.arange(4))
    assert torch.isclose(loss, expected)


def test_log_q_correction_matches_hand_computed_loss():
    """Yi et al. (RecSys'19) Eq. 3: logit_ij = <u_i, v_j> / tau - log q_j, through the project's loss.

    Three users whose positives are items 0, 1, 2 with sampling chances q = (0.1, 0.3, 0.6), u = v = I,
    tau = 1.  Row i: logits_j = [i == j] - log q_j; the mean cross-entropy worked out by hand is 0.789431
    (0.766732 with the sign of the correction flipped, 0.551445 without it).
    """
    u = v = torch.eye(3)
    targets = torch.tensor([0, 1, 2])
    log_q = torch.log(torch.tensor([0.1, 0.3, 0.6]))
    loss = in_batch_softmax_loss(u, v, targets, log_q, temperature=1.0)
    assert float(loss) == pytest.approx(0.789431, abs=1e-5)
    assert float(in_batch_softmax_loss(u, v, targets, torch.zeros(3), 1.0)) == pytest.approx(0.551445, abs=1e-5)


def test_training_is_deterministic(synthetic):
    cfg = dataclasses.replace(FAST, epochs=2)
    a = train_two_tower(synthetic, cfg, seed=3)
    b = train_two_tower(synthetic, cfg, seed=3)
    assert np.allclose(a.item_vecs, b.item_vecs)


def test_ann_agrees_with_exact_and_never_returns_history(small_model, synthetic):
    held = synthetic.test
    ann = small_model.retrieve(held.inputs, 20, users=held.users, ef=200)
    exact = small_model.brute_force(held.inputs, 20, users=held.users)
    overlap = np.mean([len(set(a) & set(e)) / 20 for a, e in zip(ann.items, exact.items)])
    assert overlap > 0.97  # ef well above k: hnswlib is nearly exact
    for items, history in zip(ann.items, held.inputs):
        assert not set(items.tolist()) & set(history.tolist())
    assert (exact.n_scored == synthetic.n_items).all()
    cheap = small_model.retrieve(held.inputs, 5, users=held.users, ef=8)  # a narrow search scores fewer items
    assert cheap.n_scored.mean() < 0.75 * synthetic.n_items
    traced = small_model.retrieve(held.inputs[:2], 5, trace=True, users=held.users[:2])
    assert traced.traces[0].items.tolist() == traced.items[0].tolist()


@pytest.mark.slow
def test_two_tower_on_ml100k_beats_popularity_clearly(trained, ml100k):
    report = evaluate(trained("two_tower"), ml100k)
    floor = evaluate(Popularity(ml100k), ml100k)["recall@50"]
    assert report["recall@50"] > floor + 0.06
    assert report["ann_recall_vs_exact@50"] > 0.95
    assert report["scored_per_user"] < ml100k.n_items
