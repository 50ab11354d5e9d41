"""NANN: graph export oracles, Algorithm 2 step by step, adversarial loss, retrieval."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from recall_core.hnsw_graph import HnswGraph, _csr, build_index, classic_search, export_graph
from recall_core.nann import (NANN, NANNConfig, NANNScorer, beam_search_layer, layer_schedule, nann_state,
                              restore_nann, sampled_softmax_loss, train_nann)
from recall_core.protocol import Popularity, evaluate

SMALL = NANNConfig(dim=16, hidden=(32, 16), negatives=30, epochs=3, batch_size=256, hnsw_M=8, ef=(4, 8, 20),
                   steps=(1, 1, 2))


def test_exported_layer0_is_connected_and_mostly_symmetric():
    x = np.random.default_rng(0).normal(size=(800, 8)).astype(np.float32)
    g = export_graph(build_index(x, "l2", M=8, ef_construction=40))
    seen, frontier = {g.entry_point}, [g.entry_point]
    while frontier:
        frontier = [int(n) for c in frontier for n in g.neighbours(c, 0) if int(n) not in seen and not seen.add(int(n))]
    assert len(seen) == g.n  # every item reachable from the entry point
    edges = {tuple(e) for e in g.edges(0).tolist()}
    symmetric = sum((b, a) in edges for a, b in edges) / len(edges)
    assert symmetric > 0.7  # HNSW links both ways unless pruned


def test_nann_search_layer_with_l2_and_wide_beam_finds_hnswlib_neighbours():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1000, 8)).astype(np.float32)
    index = build_index(x, "l2", M=8, ef_construction=60)
    g = export_graph(index)
    index.set_ef(50)
    for q in rng.normal(size=(10, 8)).astype(np.float32):
        score = lambda ids: -((x[ids] - q) ** 2).sum(1)
        expected, _ = index.knn_query(q[None], k=10)
        entry = np.array([g.entry_point])
        entry_scores, visited = score(entry), {g.entry_point}
        for level in range(g.max_level, -1, -1):
            entry, entry_scores, _ = beam_search_layer(g, level, entry, entry_scores, score, 50, 100, visited, None)
        ours = set(entry[:10].tolist())
        assert len(ours & set(expected[0].tolist())) >= 9  # same neighbours (ties and walk order aside)


def tiny_graph() -> HnswGraph:
    # layer 0: a path 0-1-2-3-4-5 plus a shortcut 0-5
    adjacency = {0: [1, 5], 1: [0, 2], 2: [1, 3], 3: [2, 4], 4: [3, 5], 5: [4, 0]}
    counts = np.array([len(adjacency[i]) for i in range(6)])
    ids = np.zeros((6, 2), dtype=np.int64)
    for i, nb in adjacency.items():
        ids[i, : len(nb)] = nb
    return HnswGraph(np.zeros(6, dtype=np.int64), 0, 0, np.arange(6), [_csr(counts, ids)])


def test_algorithm_2_expands_all_new_entries_of_w_in_one_batch():
    g = tiny_graph()
    values = np.array([0.0, 1.0, 5.0, 2.0, 3.0, 4.0])
    batches = []

    def score(ids):
        batches.append(sorted(ids.tolist()))
        return values[ids]

    record = []
    w, w_scores, spent = beam_search_layer(g, 0, np.array([0]), values[[0]], score, ef=2, steps=5,
                                           visited={0}, record=record)
    # step 1 expands {0}: scores 1 and 5 together; W = {5, 1}; both are new, so C = {5, 1}
    # step 2 expands {1, 5}: fresh {2, 4}; W = top-2 of {5, 1, 2, 4} = {2, 5}; C = {2}
    # step 3 expands {2}: fresh {3}; W stays {2, 5}: no new entry, stop
    assert batches == [[1, 5], [2, 4], [3]]
    assert spent == 5 and sorted(w.tolist()) == [2, 5]
    assert [sorted(r[5].tolist()) for r in record] == [[1, 5], [2], []]
    assert [sorted(r[6].tolist()) for r in record] == [[0], [1, 5], [2]]  # what each step expanded
    assert record[1][7].tolist() == [1, 5]  # 2 was reached from 1, 4 from 5


def test_layer_schedule_aligns_to_layer_zero():
    assert layer_schedule((100, 200, 400), 3) == [100, 200, 400]
    assert layer_schedule((100, 200, 400), 2) == [200, 400]
    assert layer_schedule((16, 64), 4) == [16, 16, 16, 64]


def test_adversarial_term_is_a_nonnegative_kl_and_vanishes_without_perturbation(synthetic):
    torch.manual_seed(0)
    model = NANNScorer(synthetic, SMALL)
    hist = torch.as_tensor(np.random.default_rng(0).integers(0, synthetic.n_items, (8, 20)))
    state = model.user_state(hist, None)
    cands = torch.as_tensor(np.random.default_rng(1).integers(0, synthetic.n_items, (8, 11)))
    log_q = torch.zeros(synthetic.n_items)
    plain = sampled_softmax_loss(model, state, cands, log_q, dataclasses.replace(SMALL, adversarial=False))
    zero = sampled_softmax_loss(model, state, cands, log_q, dataclasses.replace(SMALL, epsilon=0.0))
    adv = sampled_softmax_loss(model, state, cands, log_q, dataclasses.replace(SMALL, epsilon=0.5))
    assert torch.isclose(plain, zero, atol=1e-6)
    assert adv > plain  # FGSM moves e_v where the distribution changes most: KL > 0


@pytest.fixture(scope="module")
def small_nann(synthetic):
    return train_nann(synthetic, SMALL, seed=0)


def test_training_and_graph_search_on_synthetic(small_nann, synthetic):
    report = evaluate(small_nann, synthetic)
    assert report["bruteforce_recall@50"] > evaluate(Popularity(synthetic), synthetic)["recall@50"]
    assert report["recall@50"] >= 0.8 * report["bruteforce_recall@50"]
    assert report["scored_per_user"] < synthetic.n_items
    assert 0 < report["recall_vs_bruteforce@50"] <= 1


def test_trace_follows_algorithm_1(small_nann, synthetic):
    result = small_nann.retrieve(synthetic.test.inputs[:3], 10, trace=True, users=synthetic.test.users[:3])
    g = small_nann.graph
    for trace, n, items, history in zip(result.traces, result.n_scored, result.items, synthetic.test.inputs[:3]):
        levels = [s.level for s in trace.steps]
        assert levels == sorted(levels, reverse=True) and levels[-1] == 0
        assert n == 1 + sum(len(s.scored) for s in trace.steps)
        for step in trace.steps:
            assert len(step.kept) <= max(trace.info["ef"])
            assert set(step.scored.tolist()) <= set(g.nodes_at(step.level).tolist())
        assert not set(items.tolist()) & set(history.tolist())


def test_nann_artifact_roundtrip(small_nann, synthetic):
    state, arrays = nann_state(small_nann)
    restored = restore_nann(synthetic, SMALL, {"state": state, "arrays": arrays, "log": small_nann.log},
                            torch.device("cpu"))
    held = synthetic.test
    assert np.array_equal(restored.retrieve(held.inputs, 10, users=held.users).items,
                          small_nann.retrieve(held.inputs, 10, users=held.users).items)


@pytest.mark.slow
def test_nann_on_ml100k(trained, ml100k):
    nann = trained("nann")
    report = evaluate(nann, ml100k)
    floor = evaluate(Popularity(ml100k), ml100k)["recall@50"]
    assert report["bruteforce_recall@50"] > floor + 0.04
    assert report["recall@50"] >= 0.8 * report["bruteforce_recall@50"]  # the full profile reaches ~1.0
    assert report["scored_per_user"] < ml100k.n_items
    assert report["graph_layers"] >= 2
    curve = nann.log["budget_curve"]
    assert curve[-1]["scored_per_user"] >= curve[0]["scored_per_user"]


def test_graph_misses_explains_each_brute_force_item_the_graph_lost(small_nann, synthetic):
    from recall_core.nann import graph_misses

    held = synthetic.test
    for row in range(5):
        h, u = [held.inputs[row]], held.users[row:row + 1]
        trace = small_nann.retrieve(h, 20, trace=True, users=u, ef0=4, steps0=1).traces[0]
        brute = small_nann.brute_force(h, 20, users=u).items[0]
        missed, why = graph_misses(small_nann.graph, trace, brute)
        scored = set(np.concatenate([s.scored for s in trace.steps]).tolist()) | {trace.info["entry_point"]}
        assert set(missed.tolist()) == set(brute.tolist()) - set(trace.items.tolist()) - {-1}
        for item, reason in why.items():
            assert (reason == "scored") == (item in scored)
            assert reason == "scored" or reason is None or 1 <= reason <= 8
