"""Semantic-IDs figures, pure (no Streamlit): the constrained beam as a lattice, the codebook map and usage."""
from __future__ import annotations

import numpy as np
import pytest

from recall_core.sid_codes import codebook_usage, collision_stats, disambiguate
from recall_core.viz.common import HIT_COLOUR
from recall_core.viz.sid import (beam_lattice, code_usage_figure, codebook_frame, codebook_map, path_stats_frame,
                                 step_candidates, tuple_stats)
from test_sid import TINY, random_model


@pytest.fixture(scope="module")
def model(synthetic):
    return random_model(synthetic)


def search(model, split, beam, row=0):
    return model.retrieve([split.valid.inputs[row]], 50, trace=True, beam=beam).traces[0]


def named(frame, fig, name: str):
    """A frame's trace called ``name`` (a frame holds the figure's traces 1..n, in order)."""
    return frame.data[[d.name for d in fig.data[1:]].index(name)]


def points(trace) -> list:
    return [x for x in (trace.x or []) if x is not None]


@pytest.mark.parametrize("beam", [1, 3, 16, 200])
def test_candidates_partition_every_decoder_step_as_the_trace_counts(model, synthetic, beam):
    trace = search(model, synthetic, beam)
    for step, c in zip(trace.steps, step_candidates(trace, model.trie)):
        info = step.info
        assert len(c["token"]) == info["outputs"] == info["beam_in"] * info["tokens"]
        counts = {s: int((c["state"] == s).sum()) for s in ("cut", "history", "pruned", "kept")}
        assert counts["cut"] == info["not_in_trie"] and counts["history"] == info["history_pruned"]
        assert counts["kept"] == len(step.kept) and counts["kept"] + counts["pruned"] == info["scored"]
        assert set(c["node"][c["state"] == "kept"].tolist()) == set(step.kept.tolist())
        assert np.isfinite(c["p"][np.isin(c["state"], ["kept", "pruned"])]).all()


def test_lattice_animates_each_decoder_step_and_ends_on_real_items_with_hits_marked(model, synthetic):
    trace = search(model, synthetic, 16)
    truth = trace.items[::3]  # pretend every third returned item is in the user's held-out half
    fig = beam_lattice(trace, model.trie, synthetic.catalogue.titles, truth, "en", show=12)
    assert len(fig.frames) == len(trace.steps) == 4
    assert len(fig.layout.sliders[0].steps) == len(trace.steps)
    assert [b.label for b in fig.layout.updatemenus[0].buttons] == ["▶ Play", "⏸ Pause"]
    last = fig.frames[-1]
    items = named(last, fig, "generated movies (green: hit, orange: returned)")
    shown = np.asarray(items.customdata)
    finished = trace.steps[-1].kept
    assert np.array_equal(shown, finished[:12])  # the finished beams, best first
    assert ((shown >= 0) & (shown < synthetic.n_items)).all()
    for v in finished:  # every finished beam is a real item, and its trie node spells its ID
        assert np.array_equal(model.trie.prefixes[len(trace.steps)][v], model.ids[v])
    colours = list(items.marker.color)
    assert [c == HIT_COLOUR for c in colours] == np.isin(shown, truth).tolist()
    assert any(c == HIT_COLOUR for c in colours)
    paths = named(last, fig, "a hit's ID")
    assert sum(x is None for x in paths.x) == int(np.isin(finished, truth).sum())  # one drawn ID per hit
    for f in range(len(trace.steps) - 1):  # the items appear only at the end
        assert not points(named(fig.frames[f], fig, "generated movies (green: hit, orange: returned)"))


def test_lattice_draws_pruned_and_trie_cut_candidates(synthetic):
    rng = np.random.default_rng(1)  # first codes only 0 and 1 of K = 4: codes 2 and 3 are not in the trie
    codes = np.column_stack([rng.integers(0, 2, synthetic.n_items), rng.integers(0, 4, (synthetic.n_items, 2))])
    model = random_model(synthetic, ids=disambiguate(codes))
    trace = search(model, synthetic, 3)
    fig = beam_lattice(trace, model.trie, synthetic.catalogue.titles, np.zeros(0, dtype=int), "zh")
    kept_name, pruned_name, cut_name = (fig.data[i].name for i in (7, 6, 4))
    assert (kept_name, pruned_name, cut_name) == ("保留（颜色：log10 p）", "打分后剪掉", "不在 trie 中")
    drawn = {name: [len(points(named(fr, fig, name))) for fr in fig.frames] for name in (kept_name, pruned_name, cut_name)}
    assert all(n > 0 for n in drawn[kept_name])
    assert sum(drawn[pruned_name]) > 0 and sum(drawn[cut_name]) > 0, drawn
    cands = step_candidates(trace, model.trie)
    for f, c in enumerate(cands):  # a code is drawn as kept iff one of its candidates was kept
        kept_codes = set(c["token"][c["state"] == "kept"].tolist())
        assert drawn[kept_name][f] == len(kept_codes)
    cut_first = named(fig.frames[0], fig, cut_name)
    assert sorted(-np.asarray(cut_first.y)) == [2, 3]  # drawn on the rows of codes 2 and 3
    assert not points(named(fig.frames[-1], fig, "命中电影的 ID"))  # no truth, no hit path


def test_lattice_of_a_wide_beam_keeps_the_colour_bar_fixed(model, synthetic):
    trace = search(model, synthetic, synthetic.n_items)
    fig = beam_lattice(trace, model.trie, synthetic.catalogue.titles, trace.items[:5], "en")
    kept = [named(fr, fig, "kept (colour: log10 p)").marker for fr in fig.frames]
    assert len({(m.cmin, m.cmax) for m in kept}) == 1 and all(m.showscale for m in kept)
    assert len(points(named(fig.frames[-1], fig, "generated movies (green: hit, orange: returned)"))) == 20


def test_codebook_map_colours_items_by_their_first_code(model, synthetic):
    xy = np.random.default_rng(0).normal(size=(synthetic.n_items, 2)).astype(np.float32)
    fig = codebook_map(xy, model.ids, synthetic.catalogue.titles, "en")
    seen = np.concatenate([np.asarray(t.customdata) for t in fig.data])
    assert sorted(seen.tolist()) == list(range(synthetic.n_items))
    for t in fig.data:
        assert len(set(model.ids[np.asarray(t.customdata), 0].tolist())) == 1
        assert all("ID (" in text for text in t.text)


def test_codebook_usage_figure_and_tables(model, synthetic):
    fig = code_usage_figure(model.ids, TINY.codebook_size, TINY.levels, "en")
    assert len(fig.data) == TINY.levels and all(sum(bar.y) == synthetic.n_items for bar in fig.data)
    codes = model.ids[:, :TINY.levels]
    stats = tuple_stats(model.ids, TINY.codebook_size, TINY.levels)
    collisions = collision_stats(codes)
    assert stats["non_empty_paths"] == collisions["unique_tuples"]
    assert stats["largest_path"] == collisions["largest_group"]
    log = {"usage": codebook_usage(codes, TINY.codebook_size), "recon_error": [1.0, 0.5, 0.3, 0.2],
           "decoder_error": [0.6, 0.4, 0.3], "resets": [2, 0, 1]}
    table = codebook_frame(log, "en")
    assert len(table) == TINY.levels and table["Error left (coded)"].tolist() == [0.5, 0.3, 0.2]
    assert table["Codes used"].iloc[0].endswith(f"/ {TINY.codebook_size}")
    rows = path_stats_frame({"SID": (stats, TINY.codebook_size ** TINY.levels)}, "zh")
    assert rows.iloc[0]["可能的路径数"] == TINY.codebook_size ** TINY.levels


def test_training_stores_the_codebook_map(tmp_path, synthetic):
    from recall_core import artifacts
    from recall_core.methods import load_or_train, map_path, prepare_maps

    sid = load_or_train(synthetic, "sid", config=TINY, root=tmp_path, device="cpu", log=lambda m: None)
    path = map_path(artifacts.artifact_path(synthetic.name, "sid", 0, tmp_path))
    assert path.exists()
    xy = prepare_maps(sid, "sid", artifacts.artifact_path(synthetic.name, "sid", 0, tmp_path))
    assert xy.shape == (synthetic.n_items, 2) and np.isfinite(xy).all()
    assert sid.coded_vectors.shape == (synthetic.n_items, TINY.rq_latent)
