"""The graph read out of hnswlib is hnswlib's graph: oracle = hnswlib's own search."""
from __future__ import annotations

import numpy as np
import pytest

from recall_core.hnsw_graph import build_index, classic_search, export_graph


@pytest.fixture(scope="module")
def built():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1500, 12)).astype(np.float32)
    index = build_index(x, "l2", M=8, ef_construction=60)
    return x, index, export_graph(index)


def test_structure_matches_hnswlib_state(built):
    x, index, g = built
    state = index.__getstate__()[0]
    assert g.n == len(x) == state["cur_element_count"]
    assert g.entry_point == state["enterpoint_node"] and g.max_level == state["max_level"]
    assert g.levels[g.entry_point] == g.max_level
    assert np.array_equal(g.labels, np.arange(len(x)))
    for level in range(g.max_level + 1):
        indptr, indices = g.layers[level]
        degree = np.diff(indptr)
        cap = state["max_M0"] if level == 0 else state["max_M"]
        assert degree.max() <= cap
        assert (degree[g.levels < level] == 0).all()  # only members of a layer have links there
        assert np.isin(indices, g.nodes_at(level)).all()  # links stay inside the layer
        assert (degree[g.levels >= level] > 0).all() or g.nodes_at(level).size == 1
    assert len(g.layers[0][1]) > len(x)  # level 0 is well connected


def test_neighbours_of_many_nodes_is_their_lists_concatenated(built):
    _, _, g = built
    rng = np.random.default_rng(2)
    for level in range(g.max_level + 1):
        members = g.nodes_at(level)
        for nodes in (members[:1], rng.choice(members, size=min(30, len(members))), members[:0]):
            reached, source = g.neighbours_of(nodes, level)
            lists = [g.neighbours(int(n), level) for n in nodes]
            assert np.array_equal(reached, np.concatenate(lists) if lists else np.zeros(0, dtype=np.int64))
            assert np.array_equal(source, np.repeat(nodes, [len(x) for x in lists]))
    outside = np.flatnonzero(g.levels < g.max_level)[:5]  # nodes not in the top layer: no links there
    assert g.neighbours_of(outside, g.max_level)[0].size == 0


@pytest.mark.parametrize("ef", [10, 40])
def test_classic_search_equals_hnswlib_knn_query(built, ef):
    x, index, g = built
    queries = np.random.default_rng(1).normal(size=(40, 12)).astype(np.float32)
    index.set_ef(ef)
    labels, _ = index.knn_query(queries, k=10)
    for q, expected in zip(queries, labels):
        ids, scores, n_scored = classic_search(g, lambda ids: -((x[ids] - q) ** 2).sum(1), 10, ef)
        assert set(g.labels[ids]) == set(expected)
        assert np.all(np.diff(scores) <= 1e-6) and n_scored >= ef


def test_classic_search_with_filter_equals_hnswlib_filter(built):
    x, index, g = built
    rng = np.random.default_rng(2)
    index.set_ef(30)
    for q in rng.normal(size=(20, 12)).astype(np.float32):
        banned = set(rng.choice(len(x), 300, replace=False).tolist())
        expected, _ = index.knn_query(q[None], k=10, filter=lambda label: label not in banned)
        excluded = np.zeros(len(x), dtype=bool)
        excluded[list(banned)] = True
        ids, _, _ = classic_search(g, lambda ids: -((x[ids] - q) ** 2).sum(1), 10, 30, excluded)
        assert set(ids.tolist()) == set(expected[0].tolist())
        assert not set(ids.tolist()) & banned
