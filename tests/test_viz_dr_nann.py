"""DR and NANN figure builders follow their traces."""
from __future__ import annotations

import numpy as np
import pytest

from recall_core.dr import DRConfig, path_codes, train_dr
from recall_core.nann import NANNConfig, train_nann
from recall_core.viz.dr import beam_animation, lattice_sankey, path_size_histogram
from recall_core.viz.nann import graph_layer_map, search_animation


@pytest.fixture(scope="module")
def dr(synthetic):
    return train_dr(synthetic, DRConfig(width=4, depth=3, dim=16, code_dim=8, hidden=32, epochs=1, round_epochs=1,
                                        em_rounds=1, beam=6), seed=0)


@pytest.fixture(scope="module")
def nann(synthetic):
    return train_nann(synthetic, NANNConfig(dim=16, hidden=(32,), negatives=20, epochs=1, hnsw_M=8, ef=(4, 8, 20),
                                            steps=(1, 1, 2)), seed=0)


def test_sankey_link_widths_count_item_paths(dr, synthetic):
    fig = lattice_sankey(dr.pi, 4, 3, synthetic.catalogue.titles, "en", highlight=dr.pi[0])
    link = fig.data[0].link
    total_per_layer = {}
    for s, v in zip(link.source, link.value):
        total_per_layer[s // 4] = total_per_layer.get(s // 4, 0) + v
    assert total_per_layer == {0: dr.pi.size, 1: dr.pi.size}  # every (item, path) crosses each gap once
    coloured = [c for c in link.color if not c.startswith("rgba(160")]
    assert 1 <= len(coloured) <= 2 * dr.pi.shape[1]  # the highlighted movie's J paths


def test_path_size_histogram_counts_paths():
    sizes = {"a": np.array([0, 1, 1, 3]), "b": np.array([4, 0, 0, 1])}
    fig = path_size_histogram(sizes, "zh")
    assert list(fig.data[0].x) == [1, 3] and list(fig.data[0].y) == [2, 1]


def test_dr_animation_rings_the_kept_prefixes(dr, synthetic):
    result = dr.retrieve(synthetic.test.inputs[:1], 10, trace=True)
    trace = result.traces[0]
    fig = beam_animation(trace, 4, 3, synthetic.catalogue.titles, synthetic.test.truths[0], "en")
    assert len(fig.frames) == 4  # three layers and the rerank
    for f, step in enumerate(trace.steps[:3]):
        current = fig.frames[f].data[2]
        ringed = np.array(current.marker.line.width) > 0
        assert ringed.sum() == min(len(step.kept), 40)
    final = fig.frames[-1].data[3]
    assert len(final.x) == min(len(trace.steps[-1].scored), 40)


def test_nann_animation_follows_the_hops(nann, synthetic):
    xy = np.random.default_rng(0).normal(size=(synthetic.n_items, 2))
    result = nann.retrieve(synthetic.test.inputs[:1], 10, trace=True, users=synthetic.test.users[:1])
    trace = result.traces[0]
    brute = nann.brute_force(synthetic.test.inputs[:1], 10).items[0]
    fig = search_animation(xy, trace, synthetic.catalogue.titles, ["g"] * synthetic.n_items,
                           synthetic.test.truths[0], synthetic.n_items, "en", brute=brute)
    assert len(fig.frames) == len(trace.steps) + 2
    for i, step in enumerate(trace.steps, start=1):
        assert len(fig.frames[i].data[2].x) == len(step.scored)  # scored this hop
        assert len(fig.frames[i].data[3].x) == len(step.kept)  # W
        edges = np.array(fig.frames[i].data[1].x, dtype=float)
        assert np.isnan(edges).sum() == len(step.scored)  # one followed edge per newly scored item
    final = fig.frames[-1].data[4]
    missed = len(np.setdiff1d(brute[brute >= 0], trace.items))
    assert len(final.x) == (trace.items >= 0).sum() + missed


def test_layer_map_marks_layer_members(nann, synthetic):
    xy = np.random.default_rng(1).normal(size=(synthetic.n_items, 2))
    g = nann.graph
    fig = graph_layer_map(xy, g, 1, synthetic.catalogue.main_genre(), synthetic.catalogue.genre_names,
                          synthetic.catalogue.titles, "en")
    big = sum((np.array(t.marker.size) == 9).sum() for t in fig.data[1:-1])
    assert big == len(g.nodes_at(1))
