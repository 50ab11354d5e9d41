"""The TDM tree view and the NANN / two-tower maps at 10,000 items (issue 13 §4): bounded markers,
counted stubs, zoom into a subtree, sampled map backgrounds with every visited item drawn."""
from __future__ import annotations

import numpy as np
import pytest

from recall_core.tdm_tree import tree_from_order
from recall_core.trace import SearchTrace, TraceStep
from recall_core.viz.nann import graph_layer_map, search_animation
from recall_core.viz.tdm import (beam_search_animation, frontier_view, in_subtree, level_story, marker_count,
                                 node_labels, zoom_choices)
from recall_core.viz.two_tower import embedding_map
from test_tdm import OracleTDM

N = 10_000


@pytest.fixture(scope="module")
def big():
    """A 10,000-leaf binary tree (depth 14), a max-heap scorer and its labels."""
    rng = np.random.default_rng(13)
    tree = tree_from_order(rng.permutation(N), 2, N)
    scores = rng.normal(size=(1, N))
    genres = np.eye(4, dtype=np.float32)[rng.integers(0, 4, N)]
    labels = node_labels(tree, genres, ["A", "B", "C", "D"], [f"movie {i}" for i in range(N)])
    return tree, scores, labels


def search(tree, scores, beam, history=None, k=50):
    history = np.array([], dtype=np.int64) if history is None else history
    return OracleTDM(tree, scores, beam).retrieve([history], k, trace=True).traces[0]


@pytest.mark.parametrize("beam", [50, 400, 4096])
def test_tree_figure_draws_a_bounded_number_of_markers_at_10k_leaves(big, beam):
    tree, scores, labels = big
    trace = search(tree, scores, beam)
    fig = beam_search_animation(tree, trace, labels, trace.items[:5], "en")
    assert len(fig.frames) == len(trace.steps) + 2
    assert sum(len(s.scored) for s in trace.steps) > 800  # the search itself is larger than a level can show
    assert marker_count(fig) <= 2000
    assert len(fig.data[1].x) <= 2000  # the frontier's units
    view = frontier_view(tree, trace)
    for level in np.unique(view.level):  # no level piles up: neighbours 1 / n apart, or room for a stub's label
        x = np.sort(view.x[view.level == level])
        assert len(x) <= view.cap and (x >= 0).all() and (x <= 1).all()
        assert len(x) < 2 or np.diff(x).min() >= 0.999 * min(1 / len(x), 0.06)
    parent_x = {}  # edges never cross: left to right along a level, the parents run left to right too
    for child, parent in view.edges.tolist():
        parent_x.setdefault(child, []).append(view.x[parent])
    for level in np.unique(view.level)[1:]:
        ids = np.flatnonzero(view.level == level)
        ids = ids[np.argsort(view.x[ids])]
        assert all(max(parent_x[a]) <= min(parent_x[b]) + 1e-12 for a, b in zip(ids[:-1], ids[1:]))
    if beam == 50:  # the default beam fits: one marker per scored node
        assert all(len(c) == 1 for c in view.codes)
    else:  # a very wide beam: runs of pruned nodes are merged, then levels drawn in groups
        assert any(len(c) > 1 for c in view.codes)
    assert marker_count(beam_search_animation(tree, trace, labels, trace.items[:5], "en", max_markers=600)) <= 600


@pytest.mark.parametrize("beam", [50, 4096])
def test_stubs_count_the_movies_of_the_pruned_subtrees(big, beam):
    tree, scores, labels = big
    trace = search(tree, scores, beam)
    view = frontier_view(tree, trace)
    inner = view.level < tree.depth
    pruned = [s.scored[~np.isin(s.scored, s.kept)] for s in trace.steps if s.level < tree.depth]
    assert view.pruned_movies[inner].sum() == sum(int(tree.count[p].sum()) for p in pruned)
    assert view.n_pruned[inner].sum() == sum(len(p) for p in pruned)
    # with no history every movie is either below a pruned stub or scored at the leaf level
    leaves = trace.steps[-1]
    assert view.pruned_movies[inner].sum() + len(leaves.scored) == tree.n_items
    # the last frame shows every stub once, each with its count in the hover
    fig = beam_search_animation(tree, trace, labels, np.array([]), "en")
    stubs = fig.frames[-1].data[3]
    assert len(stubs.x) == view.is_stub().sum()
    counted = [int(h.split(": ")[1].split(" ")[0].replace(",", "")) for h in stubs.hovertext]
    assert sum(counted) == view.pruned_movies[view.is_stub()].sum()
    # the per-level story says the same
    story = level_story(tree, trace)
    assert sum(r["pruned_movies"] for r in story if not r["leaves"]) == view.pruned_movies[inner].sum()
    assert all(r["kept"] + r["pruned"] == r["scored"] for r in story)


def test_zoom_draws_only_the_subtree_with_levels_rebased(big):
    tree, scores, labels = big
    trace = search(tree, scores, 50)
    choices = zoom_choices(tree, trace)
    assert choices and all(1 <= tree.level_of(c) <= tree.depth - 2 for c in choices)
    kept = set(np.concatenate([s.kept for s in trace.steps]).tolist())
    start = trace.steps[0].level
    assert all(c in kept or tree.level_of(c) < start for c in choices)
    root = [c for c in choices if tree.level_of(c) == 7][0]
    fig = beam_search_animation(tree, trace, labels, trace.items, "en", root=root)
    codes = np.array(fig.data[1].customdata)
    assert (codes >= 0).all() and in_subtree(tree, root, codes).all()
    assert codes[np.argmax(fig.data[1].y)] == root and max(fig.data[1].y) == 0  # the root on top, level 0 of the view
    assert sorted(set(np.round(-np.array(fig.data[1].y)).astype(int))) == sorted(
        set((tree.level_of(codes) - 7).tolist()))
    # the drawn nodes are exactly the root and what the beam scored inside its subtree
    scored = np.concatenate([s.scored for s in trace.steps])
    assert set(codes.tolist()) == {root} | set(scored[in_subtree(tree, root, scored)].tolist())
    for frame in fig.frames:
        current = np.array(frame.data[1].customdata if frame.data[1].customdata is not None else [], dtype=np.int64)
        assert in_subtree(tree, root, current).all()
    assert len(fig.frames) == sum(s.level >= 7 for s in trace.steps) + 2
    story = level_story(tree, trace, root)
    assert [r["level"] for r in story] == [s.level for s in trace.steps if s.level >= 7]
    assert story[0]["scored"] == 1 and story[0]["kept"] == 1  # the root itself, kept
    assert "level 8: scored" in fig.frames[2].layout.annotations[0].text.lower().replace("<br>", " ")


def test_zoom_above_the_start_level_and_bad_roots(big):
    tree, scores, labels = big
    trace = search(tree, scores, 50)
    fig = beam_search_animation(tree, trace, labels, trace.items, "zh", root=2)  # the right half of the tree
    codes = np.array(fig.data[1].customdata)
    assert in_subtree(tree, 2, codes).all() and 2 in codes
    assert marker_count(fig) <= 2000
    with pytest.raises(ValueError):
        frontier_view(tree, trace, root=tree.n_codes + 5)


def test_history_and_small_trees_still_draw(big):
    tree, scores, labels = big
    history = np.argsort(-scores[0])[:40]
    trace = search(tree, scores, 50, history)
    fig = beam_search_animation(tree, trace, labels, np.array([]), "en")
    assert marker_count(fig) <= 2000
    small = tree_from_order(np.arange(3), 2, 3)
    t = search(small, np.array([[0.1, 0.5, 0.2]]), 1, k=2)
    fig = beam_search_animation(small, t, ["a"] * small.n_codes, np.array([1]), "en")
    assert len(fig.frames) == len(t.steps) + 2


# ---------------------------------------------------------------------------- maps


def test_two_tower_map_samples_the_background_and_draws_user_items():
    rng = np.random.default_rng(0)
    xy = rng.normal(size=(N, 2))
    genre = rng.integers(0, 5, N)
    history, returned = rng.choice(N, 120, replace=False), rng.choice(N, 100, replace=False)
    fig = embedding_map(xy, genre, list("ABCDE"), [f"m{i}" for i in range(N)], np.zeros(2), returned,
                        returned[:7], history, "en")
    background = [t for t in fig.data if t.name in list("ABCDE")]
    assert sum(len(t.x) for t in background) <= 3000
    drawn = {(round(a, 9), round(b, 9)) for t in fig.data[len(background):] for a, b in zip(t.x, t.y)}
    assert all((round(xy[i, 0], 9), round(xy[i, 1], 9)) in drawn for i in np.concatenate([history, returned]))
    assert "3,000 of 10,000" in fig.layout.annotations[0].text
    again = embedding_map(xy, genre, list("ABCDE"), [f"m{i}" for i in range(N)], np.zeros(2), returned[:3],
                          returned[:1], history[:2], "en")
    assert list(again.data[0].x) == list(fig.data[0].x)  # the same sample for every user
    small = embedding_map(xy[:500], genre[:500], list("ABCDE"), ["m"] * 500, np.zeros(2), returned[:0],
                          returned[:0], history[:0], "en")
    assert sum(len(t.x) for t in small.data[:5]) == 500 and not small.layout.annotations


def synthetic_nann_trace(rng, hops=12, per_hop=150):
    visited = rng.choice(N, hops * per_hop + 1, replace=False)
    entry, rest = int(visited[0]), visited[1:].reshape(hops, per_hop)
    steps, kept = [], np.array([entry])
    for h, scored in enumerate(rest):
        scores = rng.normal(size=per_hop).astype(np.float32)
        parents = rng.choice(kept, per_hop)
        kept = scored[np.argsort(-scores)[:20]]
        steps.append(TraceStep(f"layer 0 · hop {h}", 0, scored, scores, kept, info={"parents": parents}))
    return SearchTrace("nann", steps, kept[:10], np.zeros(10), hops * per_hop,
                       info={"entry_point": entry, "max_level": 0})


def test_nann_animation_samples_the_background_and_draws_every_visited_item():
    rng = np.random.default_rng(1)
    xy = rng.normal(size=(N, 2))
    trace = synthetic_nann_trace(rng)
    visited = np.concatenate([s.scored for s in trace.steps])
    brute = rng.choice(N, 10, replace=False)
    fig = search_animation(xy, trace, [f"m{i}" for i in range(N)], ["g"] * N, trace.items[:3], N, "en", brute=brute)
    assert len(fig.data[0].x) <= 3000
    assert all("3,000 of 10,000" in f.layout.annotations[-1].text for f in fig.frames)  # said in every frame
    for i, step in enumerate(trace.steps, start=1):
        assert len(fig.frames[i].data[2].x) == len(step.scored)  # this hop, all of it
        assert len(fig.frames[i].data[0].x) == len(np.unique(np.concatenate(
            [s.scored for s in trace.steps[: i - 1]] + [[trace.info["entry_point"]]])))  # every earlier one
    final = fig.frames[-1].data[0]
    drawn = {(round(a, 9), round(b, 9)) for a, b in zip(final.x, final.y)}
    assert all((round(xy[i, 0], 9), round(xy[i, 1], 9)) in drawn for i in visited)


class LayeredGraph:
    """The part of HnswGraph the layer map reads."""

    def __init__(self, rng):
        self.members = {0: np.arange(N), 1: rng.choice(N, 600, replace=False)}
        self.entry_point = int(self.members[1][0])
        self.rng = rng

    def nodes_at(self, level):
        return self.members[level]

    def edges(self, level):
        nodes = self.members[level]
        return np.stack([np.repeat(nodes, 4), self.rng.choice(nodes, 4 * len(nodes))], 1)


def test_layer_map_samples_layer_zero_and_keeps_upper_layers_whole():
    rng = np.random.default_rng(2)
    xy = rng.normal(size=(N, 2))
    graph = LayeredGraph(rng)
    genre = rng.integers(0, 3, N)
    for level in (0, 1):
        fig = graph_layer_map(xy, graph, level, genre, list("ABC"), [f"m{i}" for i in range(N)], "en")
        points = [t for t in fig.data[1:-1]]
        assert sum(len(t.x) for t in points) <= 3000 + len(graph.nodes_at(1))
        if level == 1:  # every node of the layer is drawn (enlarged)
            assert sum((np.array(t.marker.size) == 9).sum() for t in points) == 600
        drawn = {(round(a, 9), round(b, 9)) for t in points for a, b in zip(t.x, t.y)}
        ex, ey = np.array(fig.data[0].x, dtype=float), np.array(fig.data[0].y, dtype=float)
        ends = {(round(a, 9), round(b, 9)) for a, b in zip(ex[~np.isnan(ex)], ey[~np.isnan(ey)])}
        assert ends <= drawn  # no edge leads to an item that is not drawn
