"""TDM learned for the scale study's scorer (recall_core/scale/tdm_index.py): the tree, the layer-wise
samples, the beam search's cost and exactness, and the learned tree against the untrained one."""
from __future__ import annotations

import numpy as np
import pytest

from recall_core.scale import tdm_index as T
from recall_core.scale.base import Found
from recall_core.scale.brute import BruteForce
from recall_core.scale.world import World, exact_top, make_world, sample_queries, training_set

K = 50


def _valid_tree(tree: T.Tree, n: int) -> None:
    assert tree.depth == max(1, int(np.ceil(np.log2(max(n, 2)))))
    assert len(np.unique(tree.leaf)) == n  # every item on its own leaf
    assert ((tree.leaf >= 2 ** tree.depth - 1) & (tree.leaf < 2 ** (tree.depth + 1) - 1)).all()  # last level
    assert (tree.item_at[tree.leaf] == np.arange(n)).all() and (tree.item_at >= 0).sum() == n
    assert tree.count[0] == n and tree.is_balanced()
    for level in range(tree.depth + 1):  # items below a node = the leaves that descend from it
        anc = tree.ancestors(np.arange(n), level)
        assert (np.bincount(anc, minlength=len(tree.count)) == np.where(
            (np.arange(len(tree.count)) >= 2 ** level - 1) & (np.arange(len(tree.count)) < 2 ** (level + 1) - 1),
            tree.count, 0)).all()


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 777, 4096])
def test_tree_is_balanced_and_every_item_on_exactly_one_leaf(n):
    x = np.random.default_rng(n).normal(size=(n, 16)).astype(np.float32)
    _valid_tree(T.balanced_tree(x, seed=0), n)


def test_tree_splits_planted_clusters_apart():
    """2-means, not an arbitrary cut: two well-separated groups of 64 go to the two halves."""
    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(size=(64, 16)) + 5, rng.normal(size=(64, 16)) - 5].astype(np.float32)
    tree = T.balanced_tree(x, seed=1)
    side = tree.ancestors(np.arange(128), 1)
    assert len(set(side[:64])) == 1 and len(set(side[64:])) == 1 and side[0] != side[64]


def test_node_means_are_the_mean_of_the_items_below():
    x = np.random.default_rng(1).normal(size=(37, 4)).astype(np.float32)
    tree = T.balanced_tree(x, seed=0)
    means = tree.node_means(x)
    for code in np.flatnonzero(tree.valid)[::3]:
        level = int(np.floor(np.log2(code + 1)))
        below = np.flatnonzero(tree.ancestors(np.arange(37), level) == code)
        assert np.allclose(means[code], x[below].mean(0), atol=1e-5)


def test_layerwise_samples_are_labelled_by_the_max_heap_rule():
    world = make_world(600, lam=1.0, seed=3)
    train = training_set(world, 40, seed=0)
    tree = T.balanced_tree(world.items, seed=0)
    rows, codes, levels, labels = T.layerwise_samples(tree, train.top, 8, np.random.default_rng(0))
    assert set(np.unique(levels)) == set(range(1, tree.depth + 1))
    assert ((codes >= 2 ** levels - 1) & (codes < 2 ** (levels + 1) - 1)).all() and tree.valid[codes].all()
    truth = np.array([c in set(tree.ancestors(train.top[r], l).tolist()) for r, c, l in zip(rows, codes, levels)])
    assert (truth == labels.astype(bool)).all()
    # every distinct ancestor of a query's top items is a positive at its level
    for r in (0, 17):
        for level in (2, tree.depth):
            pos = set(codes[(rows == r) & (levels == level) & (labels == 1)].tolist())
            assert pos == set(tree.ancestors(train.top[r], level).tolist())


def _tiny_world(n: int = 8) -> World:
    world = make_world(64, lam=1.0, seed=5)
    return World(world.items[:n].copy(), world.centres, world.scorer, world.seed)


@pytest.mark.parametrize("beam, expected", [(1, 1 + 2 + 2 + 2), (2, 2 + 4 + 4), (3, 4 + 6), (4, 4 + 8), (8, 8)])
def test_evaluations_on_a_tiny_tree(beam, expected):
    """8 items, depth 3. Beam B starts at the first level with >= B nodes, scoring all of them; then each
    level scores the children of the B kept nodes; the leaves under the last beam are scored by the scorer.
    B=1: root 1, level 1 2, level 2 2, leaves 2 = 7.  B=2: 2 + 4 + 4 leaves.  B=3: level 2 (4 nodes),
    keep 3 -> 6 leaves.  B=4: 4 + 8 leaves.  B=8: the leaves only (brute force)."""
    world = _tiny_world()
    index = T.untrained_tdm(world, seed=0)
    assert index.tree.depth == 3
    found = index.search(world.items[0], 3, beam)
    assert isinstance(found, Found) and found.evaluations == expected
    assert len(found.items) == (2 if beam == 1 else 3) and len(set(found.items.tolist())) == len(found.items)


def test_evaluations_with_uneven_levels():
    """5 items: levels hold 1, 2, 4, 5 nodes (one node on level 2 has a single child)."""
    world = _tiny_world(5)
    index = T.untrained_tdm(world, seed=0)
    assert [len(c) for c in index.tree.level_nodes] == [1, 2, 4, 5]
    assert index.search(world.items[1], 2, 4).evaluations == 4 + 5  # level 2 whole, then every leaf
    assert index.search(world.items[1], 2, 5).evaluations == 5  # start at the leaves
    found = index.search(world.items[1], 2, 2)  # 2 on level 1, 4 on level 2, keep 2 -> 2 or 3 leaves
    leaves = int(index.tree.valid[np.r_[2 * index.tree.level_nodes[2] + 1, 2 * index.tree.level_nodes[2] + 2]].sum())
    assert leaves == 5 and found.evaluations in (2 + 4 + 2, 2 + 4 + 3)


class _MaxHeap:
    """An oracle node model: a node's score is the scorer's best score among the items below it (the
    max-heap of KDD'18 Eq. 1). Node vectors carry their code in column 0 so the oracle can look it up."""

    def __init__(self, world: World, tree: T.Tree):
        self.world, self.tree = world, tree

    def query_state(self, q):
        s = self.world.scorer.score(self.world.scorer.query_state(q), self.world.items)
        best = np.full(len(self.tree.count), -np.inf)
        for level in range(self.tree.depth + 1):
            np.maximum.at(best, self.tree.ancestors(np.arange(self.world.n), level), s)
        return best

    def score(self, best, vectors):
        return best[vectors[:, 0].astype(np.int64)]


@pytest.mark.parametrize("lam", [0.0, 1.0])
def test_max_heap_node_model_makes_beam_search_exact(lam):
    """With a max-heap-consistent node model, a beam of k returns exactly the scorer's top-k
    (KDD'18 Sec. 3.2): the search machinery loses nothing of its own."""
    world = make_world(1500, lam=lam, seed=2)
    tree = T.balanced_tree(world.items, seed=0)
    vectors = np.zeros((len(tree.count), 2), dtype=np.float32)
    vectors[:, 0] = np.arange(len(tree.count))
    index = T.TDMIndex("oracle", world, tree, vectors, _MaxHeap(world, tree))
    queries = sample_queries(world, 20, seed=1)
    exact = exact_top(world, queries, K)
    for q, e in zip(queries, exact):
        assert index.search(q, K, K).items.tolist() == e.tolist()


@pytest.fixture(scope="module", params=[1.0, 0.0], ids=["lam1", "lam0"])
def built(request):
    world = make_world(3000, lam=request.param, seed=0)
    train = training_set(world, 1000, seed=0)
    queries = sample_queries(world, 200, seed=1)
    learned, untrained = T.build_tdm(world, train, seed=0), T.untrained_tdm(world, seed=0)
    return world, learned, untrained, queries, exact_top(world, queries, K)


def _curve(index, queries, exact) -> np.ndarray:
    points = []
    for beam in index.settings():
        found = [index.search(q, K, beam) for q in queries]
        points.append((np.mean([f.evaluations for f in found]),
                       np.mean([len(np.intersect1d(f.items, e)) / K for f, e in zip(found, exact)])))
    return np.array(points)


def test_protocol_and_log(built):
    world, learned, untrained, queries, exact = built
    assert (learned.name, untrained.name, learned.knob, untrained.knob) == ("tdm", "tdm_untrained", "beam", "beam")
    for index in (learned, untrained):
        s = index.settings()
        assert s == sorted(set(s)) and s[0] == 2 and index.nbytes() > 0
    log = learned.log
    assert len(log["rounds"]) == 2 and all(len(r["loss"]) == log["epochs"] for r in log["rounds"])
    assert log["val_best"] >= log["val_untrained"] and log["seconds"] > 0
    assert log["n_fit"] + log["n_val"] == 1000


def test_a_huge_beam_is_brute_force(built):
    world, learned, untrained, queries, exact = built
    brute = BruteForce(world)
    for index in (learned, untrained):
        for beam in (int(index.level_sizes[-2]), world.n):  # every node above the leaves kept / leaves only
            for q, e in zip(queries[:20], exact[:20]):
                found = index.search(q, K, beam)
                assert found.items.tolist() == e.tolist() == brute.search(q, K).items.tolist()


def test_learned_tree_beats_the_untrained_one_at_equal_budget(built):
    """Recall of the learned index interpolated at the untrained sweep's evaluations, where the untrained
    one is between 0.2 and 0.97. For the non-linear scorer the learned tree must win clearly. For the
    inner product (lam = 0) the mean vector's <q, mean> is already what TDM's node model of this form can
    learn (see the module docstring), so there the learned tree must not lose."""
    world, learned, untrained, queries, exact = built
    mine, theirs = _curve(learned, queries, exact), _curve(untrained, queries, exact)
    assert np.all(np.diff(theirs[:, 0]) > 0) and np.all(np.diff(mine[:, 0]) > 0)
    mid = (theirs[:, 1] > 0.2) & (theirs[:, 1] < 0.97)
    gain = np.interp(theirs[mid, 0], mine[:, 0], mine[:, 1]) - theirs[mid, 1]
    if world.lam:
        assert gain.mean() > 0.03 and (gain > 0).all(), gain
    else:
        assert gain.mean() > -0.01 and gain.min() > -0.03, gain


def test_tree_relearning_keeps_the_tree_valid(built):
    world, learned, *_ = built
    table = learned.vectors + np.random.default_rng(0).normal(scale=0.1, size=learned.vectors.shape).astype(np.float32)
    tree, vectors = T.relearn_tree(learned.tree, table, seed=7)
    _valid_tree(tree, world.n)
    assert np.allclose(vectors[tree.leaf], table[learned.tree.leaf])  # every item keeps its leaf embedding
    assert np.allclose(vectors[0], table[learned.tree.leaf].mean(0), atol=1e-5)
