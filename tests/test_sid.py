"""Semantic IDs (TIGER): quantisers, collisions, the trie, the constrained beam against brute force, cost, artifacts."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from recall_core.data import history_matrix
from recall_core.methods import artifact_status, load_or_train
from recall_core.protocol import exclusion_mask, ranking_metrics
from recall_core.sid import (SIDConfig, SIDModel, SemanticIDRetriever, constrained_beam, semantic_ids, sid_state,
                             train_sid, vocab_sizes)
from recall_core.sid_codes import (Trie, codebook_usage, collision_stats, disambiguate, item_embeddings,
                                   reconstruction_errors, residual_kmeans, train_rqvae)

TINY = SIDConfig(codebook_size=4, cf_dim=8, rq_steps=200, rq_batch=128, d_model=16, heads=2, ff=32, enc_layers=1,
                 dec_layers=1, max_items=8, epochs=2, batch_size=512, beam=20, history_tokens="items")


def random_model(split, cfg=TINY, seed=0, ids=None):
    """An untrained generator over random (unique) IDs: the search oracles hold for any model."""
    rng = np.random.default_rng(seed)
    if ids is None:
        codes = rng.integers(0, cfg.codebook_size, (split.n_items, cfg.levels))
        ids = disambiguate(codes)
    torch.manual_seed(seed)
    model = SIDModel(split, cfg, ids).eval()
    return SemanticIDRetriever(model, split, cfg, ids)


# ---------------------------------------------------------------------------- IDs


def test_trie_of_a_hand_made_catalogue():
    ids = np.array([[0, 0, 0], [0, 1, 0], [1, 0, 0], [1, 0, 1], [2, 1, 0]])
    trie = Trie.build(ids, [3, 2, 2])
    assert trie.depth == 3
    assert trie.prefixes[1].tolist() == [[0], [1], [2]]
    assert trie.prefixes[2].tolist() == [[0, 0], [0, 1], [1, 0], [2, 1]]
    assert trie.child[0].tolist() == [[0, 1, 2]]
    assert trie.child[1].tolist() == [[0, 1], [2, -1], [-1, 3]]
    assert trie.child[2].tolist() == [[0, -1], [1, -1], [2, 3], [4, -1]]  # the last level leads to the items
    assert [u.tolist() for u in trie.under] == [[5], [2, 2, 1], [1, 1, 2, 1], [1] * 5]
    assert trie.node_of((1, 0, 1)) == 3 and trie.node_of((1, 0)) == 2 and trie.node_of((2, 0)) == -1
    assert trie.node_of((5,)) == -1
    with pytest.raises(ValueError, match="unique"):
        Trie.build(np.array([[0, 1], [0, 1]]), [2, 2])


def test_collisions_get_one_extra_code_and_every_id_is_unique():
    codes = np.array([[1, 2], [0, 0], [1, 2], [1, 2], [0, 1], [0, 0]])
    counts = np.array([5, 1, 9, 0, 3, 2])
    ids = disambiguate(codes, counts)
    assert np.array_equal(ids[:, :2], codes)
    assert ids[:, 2].tolist() == [1, 1, 0, 2, 0, 0]  # within a tuple, the most frequent item gets 0
    assert len(np.unique(ids, axis=0)) == len(ids)
    assert collision_stats(codes) == {"unique_tuples": 3, "colliding_items": 5, "colliding_tuples": 2,
                                      "largest_group": 3}
    rng = np.random.default_rng(0)
    many = rng.integers(0, 3, (500, 3))  # 27 tuples for 500 items: almost all collide
    assert len(np.unique(disambiguate(many), axis=0)) == 500


def test_codebook_usage_and_perplexity():
    codes = np.array([[0, 1], [0, 1], [1, 1], [1, 1]])
    usage = codebook_usage(codes, 4)
    assert usage[0] == {"level": 1, "used": 2, "K": 4, "usage": 0.5, "perplexity": pytest.approx(2.0)}
    assert usage[1]["used"] == 1 and usage[1]["perplexity"] == pytest.approx(1.0)


@pytest.fixture(scope="module")
def embedding(synthetic):
    return item_embeddings(synthetic, 0.5, 8)


def test_item_embedding_mixes_content_and_collaborative_parts(synthetic, embedding):
    n_content = synthetic.catalogue.genres.shape[1] + 1
    assert embedding.shape == (synthetic.n_items, n_content + 8) and np.isfinite(embedding).all()
    content_only = item_embeddings(synthetic, 1.0, 8)
    assert np.allclose(content_only[:, n_content:], 0) and not np.allclose(content_only[:, :n_content], 0)
    with pytest.raises(ValueError, match="content_weight"):
        item_embeddings(synthetic, 1.5, 8)


def test_residual_kmeans_error_falls_with_each_level(embedding):
    codes, books = residual_kmeans(embedding, 3, 8, seed=0)
    assert codes.shape == (len(embedding), 3) and books.shape == (3, 8, embedding.shape[1])
    errors = reconstruction_errors(embedding, books, codes)
    assert errors[0] == 1.0 and all(b < a for a, b in zip(errors, errors[1:])), errors


def test_rqvae_error_falls_with_each_level_and_codes_stay_alive(embedding):
    model, extra = train_rqvae(embedding, 3, 8, hidden=32, latent=8, beta=0.25, steps=300, lr=3e-3, batch_size=128,
                               reset_every=20, seed=0)
    from recall_core.sid_codes import residual_quantise

    with torch.no_grad():
        z = model.encoder(torch.as_tensor(embedding))
        codes = residual_quantise(z, model.codebooks)[0].numpy()
    errors = reconstruction_errors(z.numpy(), model.codebooks.detach().numpy(), codes)
    assert all(b < a for a, b in zip(errors, errors[1:])), errors
    assert len(extra["resets"]) == 3
    assert all(u["used"] >= 4 for u in codebook_usage(codes, 8))  # dead codes were reset, not left to collapse


@pytest.mark.parametrize("quantiser", ["rqvae", "rkmeans"])
def test_semantic_ids_are_unique_with_their_statistics(synthetic, quantiser):
    cfg = dataclasses.replace(TINY, quantiser=quantiser)
    ids, log, arrays = semantic_ids(synthetic, cfg)
    assert ids.shape == (synthetic.n_items, cfg.levels + 1)
    assert len(np.unique(ids, axis=0)) == synthetic.n_items
    assert ids[:, :cfg.levels].max() < cfg.codebook_size
    assert log["disambiguation_codes"] == log["collisions"]["largest_group"] == ids[:, -1].max() + 1
    assert len(log["usage"]) == cfg.levels and len(log["recon_error"]) == cfg.levels + 1
    assert arrays["codebooks"].shape[:2] == (cfg.levels, cfg.codebook_size)
    with pytest.raises(ValueError, match="quantiser"):
        semantic_ids(synthetic, dataclasses.replace(TINY, quantiser="pq"))


# ---------------------------------------------------------------------------- search


def assert_same_ranking(a_items, a_scores, b_items, b_scores, tol=1e-4):
    """Equal top-k lists, except that items whose scores tie (within ``tol``) may swap places."""
    assert np.allclose(a_scores, b_scores, atol=tol)
    for ai, bi, bs in zip(a_items, b_items, b_scores):
        differ = ai != bi
        if differ.any():  # only near-ties may differ, and then the same items lie within the tie
            assert set(ai[differ]) <= set(bi[np.abs(bs - bs[differ].min()) <= tol * 2]) | set(bi[differ])
            assert np.abs(bs[differ] - bs[differ][0]).max() <= 2 * tol


def test_constrained_beam_emits_only_items_outside_the_history(synthetic):
    r = random_model(synthetic)
    histories = synthetic.valid.inputs[:12]
    for beam in (1, 7, 60):
        result = r.retrieve(histories, 50, beam=beam)
        for row, h in zip(result.items, histories):
            found = row[row >= 0]
            assert len(found) == min(beam, 50) and len(set(found)) == len(found)
            assert not np.isin(found, h).any() and found.max() < synthetic.n_items
    # every finished beam's generated tokens spell the ID of the item it returns
    with torch.no_grad():
        memory, keep = r.model.encode(torch.as_tensor(history_matrix(histories, TINY.max_items, synthetic.pad)))
        items, logp, tokens, _, _ = constrained_beam(r.model, r.trie, memory, keep,
                                                     exclusion_mask(histories, synthetic.n_items), 60)
    assert (items >= 0).all() and torch.isfinite(logp).all()
    for row, toks in zip(items.numpy(), tokens.numpy()):
        assert [r.trie.node_of(t) for t in toks] == row.tolist()
        assert np.array_equal(r.ids[row], toks)


def test_full_beam_equals_brute_force(synthetic):
    r = random_model(synthetic)
    histories = synthetic.valid.inputs[:10]
    beam = r.retrieve(histories, 50, beam=synthetic.n_items)
    brute = r.brute_force(histories, 50)
    assert_same_ranking(beam.items, beam.scores, brute.items, brute.scores)
    scores = r.item_log_probs(histories)
    assert (scores.exp().sum(1) <= 1 + 1e-5).all()  # the rest of the mass sits on tuples that are no item
    with torch.no_grad():  # one pass per distinct L-prefix gives what teacher forcing every item's ID gives
        memory, keep = r.model.encode(torch.as_tensor(history_matrix(histories, TINY.max_items, synthetic.pad)))
        direct = r.model.id_log_probs(memory, keep, torch.as_tensor(r.ids).expand(len(histories), -1, -1))
    assert torch.allclose(scores, direct, atol=1e-5)
    assert np.allclose(beam.scores, scores.gather(1, torch.as_tensor(beam.items)).numpy(), atol=1e-4)


def test_cached_decoding_equals_the_full_causal_decode(synthetic):
    """decode_next on a KV cache, one position at a time and with beams reordered between steps, gives the
    hidden states decode() computes for whole prefixes."""
    r = random_model(synthetic)
    histories = synthetic.valid.inputs[:6]
    rng = np.random.default_rng(0)
    depth = r.model.depth
    with torch.no_grad():
        memory, keep = r.model.encode(torch.as_tensor(history_matrix(histories, TINY.max_items, synthetic.pad)))
        past, tokens, seqs = None, None, torch.zeros(6, 1, 0, dtype=torch.long)
        for t in range(depth):
            if t:  # grow a reshuffled set of beams: each new beam picks a parent beam, then its next code
                parent = torch.as_tensor(rng.integers(0, seqs.shape[1], size=(6, 5)))
                past = [tuple(y.gather(1, parent[:, :, None, None].expand(-1, -1, *y.shape[2:])) for y in kv)
                        for kv in past]
                seqs = seqs.gather(1, parent[..., None].expand(-1, -1, t - 1)) if t > 1 else seqs.expand(-1, 5, -1)
                tokens = torch.as_tensor(rng.integers(0, r.model.sizes[t - 1], size=(6, 5)))
                seqs = torch.cat([seqs, tokens[..., None]], 2)
            h, past = r.model.decode_next(memory, keep, tokens, past)
            assert past[0][0].shape[2] == t + 1
            expected = r.model.decode(memory, keep, seqs)[:, :, t]
            assert torch.allclose(h, expected, atol=1e-5)


def five_item_world(split):
    """The synthetic split cut to its first 5 items (the generator only needs the catalogue's size)."""
    c = split.catalogue
    return dataclasses.replace(split, catalogue=dataclasses.replace(
        c, titles=c.titles[:5], raw_ids=c.raw_ids[:5], years=c.years[:5], genres=c.genres[:5]))


def test_cost_counts_the_trie_edges_the_beam_scores(synthetic):
    ids = np.array([[0, 0, 0], [0, 1, 0], [1, 0, 0], [1, 0, 1], [2, 1, 0]])
    split5 = five_item_world(synthetic)
    cfg = dataclasses.replace(TINY, levels=2, codebook_size=3)
    torch.manual_seed(0)
    model = SIDModel(split5, cfg, ids).eval()
    assert model.sizes == vocab_sizes(ids, cfg) == [3, 3, 2]
    trie = Trie.build(ids, model.sizes)
    histories = [np.array([0]), np.array([3]), np.array([2, 3])]
    excluded = exclusion_mask(histories, 5)
    with torch.no_grad():
        memory, keep = model.encode(torch.tensor([[split5.pad, 0], [split5.pad, 3], [2, 3]]))
        items, _, _, scored, _ = constrained_beam(model, trie, memory, keep, excluded, beam=10)
    # a beam wider than the trie scores each edge above a remaining item once:
    # items {1,2,3,4}: 3 + 3 ((0,0) leads only to the history) + 4; {0,1,2,4}: 3 + 4 + 4;
    # {0,1,4}: 2 (token 1 leads only to the history) + 3 + 3
    assert scored.tolist() == [10, 11, 8]
    assert [sorted(v for v in row.tolist() if v >= 0) for row in items] == [[1, 2, 3, 4], [0, 1, 2, 4], [0, 1, 4]]
    with torch.no_grad():  # beam 1: the root's allowed tokens, then the allowed children of the one kept prefix
        items, _, _, scored, steps = constrained_beam(model, trie, memory, keep, excluded, beam=1, record=True)
    remaining = [set(range(5)) - set(h.tolist()) for h in histories]
    for u in range(3):
        first, second = steps[0]["kept"][u, 0].item(), steps[1]["kept"][u, 0].item()
        below = lambda level, node: [v for v in remaining[u] if trie.item_node[level][v] == node]  # noqa: E731
        n1 = len({ids[v, 0] for v in remaining[u]})
        n2 = len({ids[v, 1] for v in below(1, first)})
        n3 = len(below(2, second))
        assert scored[u] == n1 + n2 + n3
        assert tuple(trie.prefixes[2][second][:1]) == tuple(trie.prefixes[1][first])  # the beam extends its prefix
        assert items[u, 0].item() in below(2, second)


def test_trace_records_every_decoder_step(synthetic):
    r = random_model(synthetic)
    result = r.retrieve(synthetic.valid.inputs[:2], 50, beam=16, trace=True)
    for u, trace in enumerate(result.traces):
        assert [s.stage for s in trace.steps] == ["code 1", "code 2", "code 3", "disambiguation"]
        assert trace.scored_so_far()[-1] == trace.n_scored == result.n_scored[u]
        for step in trace.steps:
            order = np.argsort(-step.scores, kind="stable")
            kept_scores = np.sort(step.scores[np.isin(step.scored, step.kept)])[::-1]
            assert np.allclose(kept_scores, step.scores[order][:len(step.kept)])  # the beam is the top-B of the scored
            assert len(step.kept) == min(16, len(step.scored))
            assert step.info["prefixes"].shape == (len(step.scored), step.level)
            assert step.info["outputs"] == step.info["not_in_trie"] + step.info["history_pruned"] + step.info["scored"]
        row = result.items[u]
        assert np.array_equal(trace.items, row[row >= 0]) and np.array_equal(trace.steps[-1].kept[:50], trace.items)


def test_curve_read_from_the_step_tables_is_the_curve_of_the_search(synthetic):
    """curve_and_ceiling (every beam reading one pass of step tables) gives the rows budget_curve gets by running
    the search at each beam, and brute force's recall; item_log_probs is the tables summed along each ID."""
    from recall_core.protocol import budget_curve

    r = random_model(synthetic)
    held = synthetic.valid
    beams = [1, 5, 20, 80]
    rows, ceiling = r.curve_and_ceiling(held, beams)
    expected = budget_curve(r, held, "beam", beams)
    assert [row["beam"] for row in rows] == beams
    for row, want in zip(rows, expected):
        assert row["scored_per_user"] == want["scored_per_user"]
        assert row["recall@50"] == pytest.approx(want["recall@50"], abs=1e-9)
    brute = r.brute_force(held.inputs, 50, users=held.users).items
    assert ceiling == pytest.approx(ranking_metrics(brute, held.truths, (50,))["recall@50"], abs=1e-9)


# ---------------------------------------------------------------------------- training and artifacts


def test_training_logs_and_artifact_roundtrip(tmp_path, synthetic):
    first = load_or_train(synthetic, "sid", config=TINY, root=tmp_path, device="cpu", log=lambda m: None)
    log = first.log
    assert log["generator"]["best_epoch"] in (0, 1) and len(log["generator"]["valid"]) == 2
    assert [row["beam"] for row in log["budget_curve"]][:2] == [50, 75]
    assert set(log["budget_curve"][0]) == {"beam", "scored_per_user", "recall@50"}
    assert 0 <= log["bruteforce_recall@50"] <= 1
    q = log["quantiser_stats"]
    assert q["quantiser"] == "rqvae" and q["collisions"]["unique_tuples"] <= synthetic.n_items
    assert artifact_status(synthetic, "sid", root=tmp_path, config=TINY) == "ready"
    again = load_or_train(synthetic, "sid", config=dataclasses.replace(TINY, beam=30), root=tmp_path,
                          train_if_missing=False, log=lambda m: None)  # a serving knob: the same weights
    assert np.array_equal(again.ids, first.ids)
    histories = synthetic.test.inputs[:8]
    a, b = first.retrieve(histories, 50, beam=30), again.retrieve(histories, 50)
    assert np.array_equal(a.items, b.items) and np.allclose(a.scores, b.scores)
    assert np.allclose(first.item_log_probs(histories), again.item_log_probs(histories))
    state, arrays = sid_state(again)
    assert {"ids", "embedding", "latent", "codebooks"} <= set(arrays)
    assert artifact_status(synthetic, "sid", root=tmp_path, config=dataclasses.replace(TINY, codebook_size=8)) == "stale"


def test_bad_settings_are_refused(synthetic):
    r = random_model(synthetic)
    with pytest.raises(ValueError, match="beam"):
        r.retrieve(synthetic.valid.inputs[:2], 50, beam=0)
    with pytest.raises(ValueError, match="history_tokens"):
        SIDModel(synthetic, dataclasses.replace(TINY, history_tokens="words"), r.ids)


@pytest.mark.slow
def test_sid_on_ml100k(trained, ml100k):
    """The quick-profile model on MovieLens: the beam keeps its ceiling, both clear the popularity floor, the
    stored budget curve and ceiling are the validation users' (recomputed here), IDs are unique."""
    from recall_core.protocol import Popularity, evaluate, ranking_metrics

    sid = trained("sid")
    report = evaluate(sid, ml100k)
    floor = evaluate(Popularity(ml100k), ml100k)["recall@50"]
    assert report["recall@50"] >= 0.95 * report["bruteforce_recall@50"]
    assert report["recall@50"] > floor + 0.04
    assert len(np.unique(sid.ids, axis=0)) == ml100k.n_items
    brute = sid.brute_force(ml100k.valid.inputs, 50).items
    assert sid.log["bruteforce_recall@50"] == pytest.approx(ranking_metrics(brute, ml100k.valid.truths, (50,))["recall@50"])
    row = sid.log["budget_curve"][0]
    beam = sid.retrieve(ml100k.valid.inputs, 50, beam=row["beam"])
    assert row["recall@50"] == pytest.approx(ranking_metrics(beam.items, ml100k.valid.truths, (50,))["recall@50"])
