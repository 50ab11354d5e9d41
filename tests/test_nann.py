"""NANN: graph export oracles, Algorithm 2 step by step, adversarial loss, retrieval."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from recall_core.hnsw_graph import HnswGraph, _csr, build_index, classic_search, export_graph
from recall_core.nann import (N_YEAR_BUCKETS, NANN, NANNConfig, NANNScorer, adversarial_kl, beam_search_layer,
                              candidate_logits, dense_scores, history_year_bucket, layer_schedule, nann_state, restore_nann,
                              sampled_softmax_loss, search_layers, train_nann)
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
        entry_scores, visited = score(entry), np.zeros(g.n, dtype=bool)
        visited[g.entry_point] = True
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
                                           visited=np.arange(6) == 0, record=record)
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


def test_unbounded_graph_search_equals_brute_force_of_the_same_scorer(small_nann, synthetic):
    # oracle: with ef >= n and enough steps, layer 0's search reaches every item of the (connected)
    # graph, so its top-k must be the brute-force top-k of the same model, score for score
    held, n = synthetic.test, synthetic.n_items
    graph = small_nann.retrieve(held.inputs, 50, users=held.users, ef0=n, steps0=n)
    brute = small_nann.brute_force(held.inputs, 50, users=held.users)
    assert np.allclose(graph.scores, brute.scores, atol=1e-4)
    same = [len(set(g) & set(b)) / 50 for g, b in zip(graph.items, brute.items)]
    assert np.mean(same) >= 0.999  # identical lists, up to float ties at the 50th place
    narrow = small_nann.retrieve(held.inputs, 50, users=held.users, ef0=50, steps0=1)
    assert narrow.n_scored.mean() < graph.n_scored.mean()  # and the knobs do bound the search


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


def test_dense_scores_are_the_scorer_on_every_item(small_nann, synthetic):
    # the items' attention queries computed once for all users, and the items in chunks of any size: the scores of
    # one scorer call per user on the whole catalogue
    held = synthetic.valid
    state = small_nann._states(held.inputs, held.users)
    vecs = small_nann.item_vecs_t
    with torch.no_grad():
        direct = np.stack([small_nann.model.score({k: v[u:u + 1] for k, v in state.items()}, vecs[None])[0].numpy()
                           for u in range(len(held.inputs))])
    for chunk in (7, 512, 4096):
        assert np.allclose(dense_scores(small_nann.model, state, vecs, chunk), direct, rtol=0, atol=1e-5)


def test_search_on_precomputed_scores_walks_as_the_model_does(small_nann, synthetic):
    # the budget curve walks the graph on the brute-force pass's scores instead of calling the model per hop:
    # the same items and the same count of evaluations at every setting, and nothing else is accepted
    held = synthetic.valid
    table = small_nann.score_table(held.inputs, held.users)
    for ef0, steps0 in [(50, 1), (75, 8), (200, 8)]:
        online = small_nann.retrieve(held.inputs, 50, users=held.users, ef0=ef0, steps0=steps0)
        looked_up = small_nann.retrieve(held.inputs, 50, users=held.users, ef0=ef0, steps0=steps0, scores=table)
        assert np.array_equal(online.n_scored, looked_up.n_scored)
        assert np.mean(online.items == looked_up.items) >= 0.999  # float ties aside
        assert np.allclose(online.scores, looked_up.scores, atol=1e-5)
    online = small_nann.hnsw_rule(held.inputs, 50, users=held.users)  # the "NANN-HNSW" rule reads them the same way
    looked_up = small_nann.hnsw_rule(held.inputs, 50, users=held.users, scores=table)
    assert np.array_equal(online.n_scored, looked_up.n_scored) and np.mean(online.items == looked_up.items) >= 0.999
    with pytest.raises(ValueError, match="scores must be"):
        small_nann.retrieve(held.inputs, 50, users=held.users, scores=table[:-1])


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


# ---------------------------------------------------------------- correctness fixes (issue 11)


def test_year_token_is_the_mode_over_real_behaviours_not_padding():
    # items 0..3 have year buckets 3, 3, 5, 1; item 4 is the padding row (its bucket is irrelevant)
    year_of = torch.tensor([3, 3, 5, 1, 0])
    pad = 4
    rows = torch.tensor([[0, 1, 2] + [pad] * 17,  # short history in a long padded row: 3 (twice) beats 5
                         [2, 3, 2, 0] + [pad] * 16,  # 5 twice
                         [3, 0] + [pad] * 18,  # tie 1 vs 3: the lower bucket
                         [pad] * 20])  # empty history: its own bucket
    expected = [3, 5, 1, N_YEAR_BUCKETS]
    assert history_year_bucket(year_of, rows, rows != pad).tolist() == expected


def test_user_state_does_not_depend_on_padding_length(synthetic):
    torch.manual_seed(0)
    model = NANNScorer(synthetic, SMALL).eval()
    history = np.random.default_rng(3).integers(0, synthetic.n_items, 4)
    pad = synthetic.pad

    def profile(width):
        row = torch.as_tensor(np.concatenate([history, np.full(width - len(history), pad)]))[None]
        with torch.no_grad():
            return model.user_state(row, None)["profile"]

    assert torch.allclose(profile(5), profile(50), atol=1e-6)


class LinearScorer:
    """A hand-checkable stand-in for NANNScorer: e_v = a per-item scalar, score = e_v."""

    def __init__(self, values):
        self.values = torch.tensor(values, dtype=torch.float32, requires_grad=True)

    def item_vectors(self, items):
        return self.values[items][..., None]

    def score(self, state, e_v):
        return e_v[..., 0] * state["w"]


def test_sampled_negatives_equal_to_the_positive_are_masked_out():
    # a catalogue of 3 items and 6 negatives per positive: collisions with the positive are certain
    model = LinearScorer([1.0, 2.0, 0.5])
    state = {"w": torch.ones(2, 1)}
    candidates = torch.tensor([[0, 0, 1, 2, 0, 1, 2],
                               [2, 1, 2, 2, 0, 0, 1]])
    log_q = torch.zeros(3)
    loss = sampled_softmax_loss(model, state, candidates, log_q, dataclasses.replace(SMALL, adversarial=False))
    # hand-computed: row 0 keeps positive 1.0 against negatives 2.0, 0.5, 2.0, 0.5;
    # row 1 keeps positive 0.5 against 2.0, 1.0, 1.0, 2.0
    row0 = -1.0 + np.log(np.exp(1.0) + 2 * np.exp(2.0) + 2 * np.exp(0.5))
    row1 = -0.5 + np.log(np.exp(0.5) + 2 * np.exp(2.0) + 2 * np.exp(1.0))
    assert loss.item() == pytest.approx((row0 + row1) / 2, rel=1e-6)
    logits = candidate_logits(model, state, model.item_vectors(candidates), candidates, log_q)
    assert (logits[:, 1:][candidates[:, 1:] == candidates[:, :1]] < -1e8).all()
    assert torch.isfinite(logits[:, 1:][candidates[:, 1:] != candidates[:, :1]]).all()


def test_adversarial_kl_does_not_pull_the_clean_distribution():
    # hand check on the linear scorer: KL(p_clean || p_adv) with the clean side a constant
    model = LinearScorer([1.0, 2.0, 0.5, -1.0])
    state = {"w": torch.ones(1, 1)}
    candidates = torch.tensor([[0, 1, 2, 3]])
    log_q = torch.zeros(4)
    cfg = dataclasses.replace(SMALL, epsilon=0.3)
    e_v = model.item_vectors(candidates)
    clean = candidate_logits(model, state, e_v, candidates, log_q)
    loss = torch.nn.functional.cross_entropy(clean, torch.tensor([0]))
    kl = adversarial_kl(model, state, e_v, clean, loss, candidates, log_q, cfg)
    d_clean, = torch.autograd.grad(kl, clean, retain_graph=True, allow_unused=True)
    assert d_clean is None or torch.all(d_clean == 0)  # nothing flows into the clean logits
    # the whole gradient w.r.t. the item values is the perturbed side's: dKL/dx_adv = p_adv - p_clean
    d_values, = torch.autograd.grad(kl, model.values)
    p_clean = torch.softmax(torch.tensor([1.0, 2.0, 0.5, -1.0]), 0)
    # FGSM: dL/dx = p - onehot(0): sign = (-, +, +, +) -> x_adv = x + 0.3 * sign
    p_adv = torch.softmax(torch.tensor([0.7, 2.3, 0.8, -0.7]), 0)
    assert torch.allclose(d_values, p_adv - p_clean, atol=1e-6)
    assert kl.item() == pytest.approx(float((p_clean * (p_clean.log() - p_adv.log())).sum()), rel=1e-5)


def two_layer_graph() -> HnswGraph:
    # layer 1: 0 - 1, 0 - 2 (nodes 0, 1, 2); layer 0 adds 5, reachable only through 2
    def layer(adjacency):
        counts = np.array([len(adjacency.get(i, [])) for i in range(6)])
        ids = np.zeros((6, 3), dtype=np.int64)
        for i, nb in adjacency.items():
            ids[i, :len(nb)] = nb
        return _csr(counts, ids)

    layer0 = layer({0: [1, 2], 1: [0, 2], 2: [1, 5, 0], 3: [4], 4: [3], 5: [2]})
    layer1 = layer({0: [1, 2], 1: [0], 2: [0]})
    return HnswGraph(np.array([1, 1, 1, 0, 0, 0]), 0, 1, np.arange(6), [layer0, layer1])


def test_each_layer_has_its_own_visited_set():
    g = two_layer_graph()
    values = np.array([0.0, 2.0, 1.0, -1.0, -1.0, 10.0])
    score = lambda ids: values[ids]
    entry = np.array([0])
    # layer 1 (ef 1, T 1): scores 1 and 2, keeps only 1. Layer 0 (ef 2, T 3): expands 1 -> {0, 2};
    # W = {1, 2}; expands 2 -> 5, the best item. A visited set carried over from layer 1 already
    # holds 2, so layer 0 finds nothing new from 1 and stops with W = {1}: item 5 is lost.
    w, _, spent = search_layers(g, entry, score(entry), score, [1, 2], [1, 3])
    assert w.tolist() == [5, 1] and spent == 2 + 2 + 1
    shared = np.arange(g.n) == 0  # node 0 visited
    w_shared, s_shared, _ = beam_search_layer(g, 1, entry, score(entry), score, 1, 1, shared)
    w_shared, _, _ = beam_search_layer(g, 0, w_shared, s_shared, score, 2, 3, shared)
    assert 5 not in w_shared.tolist()  # what the old, shared set did on this graph


def test_two_sided_scorer_adds_the_inner_product_of_user_and_item_vectors(synthetic):
    torch.manual_seed(0)
    model = NANNScorer(synthetic, dataclasses.replace(SMALL, two_sided=True)).eval()
    hist = torch.as_tensor(np.random.default_rng(0).integers(0, synthetic.n_items, (3, 12)))
    items = torch.as_tensor(np.random.default_rng(1).integers(0, synthetic.n_items, (3, 7)))
    with torch.no_grad():
        state = model.user_state(hist, None)
        e_v = model.item_vectors(items)
        with_head = model.score(state, e_v)
        last = model.head[-1]
        last.weight.zero_(), last.bias.zero_()  # silence the MLP head: only <u, e_v> is left
        expected = torch.einsum("bd,bpd->bp", state["user_vector"], e_v)
        assert torch.allclose(model.score(state, e_v), expected, atol=1e-6)
        assert not torch.allclose(with_head, expected)


def test_head_computes_the_profile_part_once_per_user_with_the_same_scores(synthetic):
    """score() splits the head's first layer by input blocks; it must equal the MLP on the concatenation
    [profile, attended, e_v] of Sec. 3.1 (4)."""
    torch.manual_seed(0)
    model = NANNScorer(synthetic, dataclasses.replace(SMALL, two_sided=False)).eval()
    hist = torch.as_tensor(np.random.default_rng(0).integers(0, synthetic.n_items + 1, (4, 12)))
    items = torch.as_tensor(np.random.default_rng(1).integers(0, synthetic.n_items, (4, 9)))
    with torch.no_grad():
        state = model.user_state(hist, None)
        e_v = model.item_vectors(items)
        query = model.query_mlp(e_v)
        logits = torch.bmm(query, state["keys"].transpose(1, 2)) / np.sqrt(query.shape[-1])
        weights = torch.softmax(logits.masked_fill(~state["mask"][:, None, :], -1e9), -1)
        attended = torch.bmm(weights * state["mask"][:, None, :].any(-1, keepdim=True), state["keys"])
        concatenated = torch.cat([state["profile"][:, None, :].expand_as(e_v), attended, e_v], -1)
        assert torch.allclose(model.score(state, e_v), model.head(concatenated).squeeze(-1), atol=1e-5)


def test_training_loss_gathers_item_vectors_without_changing_them(synthetic):
    """The loss computes e_v once per item and gathers it per candidate: the same loss as per pair."""
    torch.manual_seed(0)
    cfg = dataclasses.replace(SMALL, adversarial=False)
    model = NANNScorer(synthetic, cfg).eval()
    hist = torch.as_tensor(np.random.default_rng(0).integers(0, synthetic.n_items, (5, 10)))
    candidates = torch.as_tensor(np.random.default_rng(1).integers(0, synthetic.n_items, (5, 8)))
    log_q = torch.zeros(synthetic.n_items)
    state = model.user_state(hist, None)
    per_pair = torch.nn.functional.cross_entropy(
        candidate_logits(model, state, model.item_vectors(candidates), candidates, log_q),
        torch.zeros(5, dtype=torch.long))
    assert torch.allclose(sampled_softmax_loss(model, state, candidates, log_q, cfg), per_pair, atol=1e-6)


def test_training_gradients_repeat_exactly_with_two_threads(synthetic):
    """Run-to-run repeatability: the candidates' gradients are summed into their item's row in a fixed order.
    (Plain indexing's backward summed them in thread order: NANN's trained models differed between runs.)"""
    torch.manual_seed(0)
    model = NANNScorer(synthetic, SMALL)
    rng = np.random.default_rng(0)
    hist = torch.as_tensor(rng.integers(0, synthetic.n_items, (256, 20)))
    candidates = torch.as_tensor(rng.integers(0, synthetic.n_items, (256, 26)))
    log_q = torch.zeros(synthetic.n_items)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        grads = []
        for _ in range(4):
            model.zero_grad()
            sampled_softmax_loss(model, model.user_state(hist, None), candidates, log_q, SMALL).backward()
            grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(grads[0], g) for g in grads[1:])
