"""TDM's tree index: items are the leaves of a complete b-ary tree (all on the last level).

Nodes use heap codes: the root is 0 and the children of node c are b*c+1 .. b*c+b,
so a node's level, parent and children are arithmetic.  With n items and
branching b the leaves sit on level D = ceil(log_b n); codes of subtrees holding
no item are "empty" and never sampled or searched.

Builders:
* :func:`genre_tree` — the initial tree (KDD'18 Sec. 3.4): items sorted by
  category, recursively split into b parts of (nearly) equal size.
* :func:`kmeans_tree` — TDM's tree learning (Zhu et al., KDD'18, Sec. 3.4): the
  learned leaf (item) embeddings recursively clustered by balanced k-means (for
  b = 2: 2-means whose halves differ by <= 1).
* :func:`jtm_tree` — JTM's tree learning (Zhu et al., NeurIPS'19, Algorithm 2):
  items greedily re-assigned, ``gap`` levels at a time, to maximise the model's
  log-likelihood of their ancestors, L(pi), under a balance constraint.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def depth_for(n_items: int, branching: int) -> int:
    depth, capacity = 0, 1
    while capacity < n_items:
        depth, capacity = depth + 1, capacity * branching
    return max(depth, 1)


@dataclass
class Tree:
    branching: int
    depth: int  # level of the leaves; the root is level 0
    leaf_code: np.ndarray  # [n_items] heap code of each item's leaf

    def __post_init__(self):
        b, n_codes = self.branching, self.n_codes
        self.leaf_code = np.asarray(self.leaf_code, dtype=np.int64)
        self.item_at = np.full(n_codes, -1, dtype=np.int64)
        self.item_at[self.leaf_code] = np.arange(len(self.leaf_code))
        # item count below every node, accumulated bottom-up
        self.count = np.zeros(n_codes, dtype=np.int64)
        self.count[self.leaf_code] = 1
        for level in range(self.depth, 0, -1):
            codes = self.level_codes(level)
            np.add.at(self.count, (codes - 1) // b, self.count[codes])
        self.valid = self.count > 0

    # ------------------------------------------------------------ arithmetic
    @property
    def n_items(self) -> int:
        return len(self.leaf_code)

    @property
    def n_codes(self) -> int:
        return (self.branching ** (self.depth + 1) - 1) // (self.branching - 1)

    def level_start(self, level: int) -> int:
        return (self.branching ** level - 1) // (self.branching - 1)

    def level_codes(self, level: int) -> np.ndarray:
        return np.arange(self.level_start(level), self.level_start(level + 1))

    def level_of(self, codes: np.ndarray) -> np.ndarray:
        codes = np.asarray(codes)
        return np.searchsorted([self.level_start(l) for l in range(self.depth + 2)], codes, side="right") - 1

    def parent(self, codes: np.ndarray) -> np.ndarray:
        return (np.asarray(codes) - 1) // self.branching

    def children(self, codes: np.ndarray) -> np.ndarray:
        """[..., b] child codes of each code."""
        codes = np.asarray(codes)
        return codes[..., None] * self.branching + 1 + np.arange(self.branching)

    def nodes_at(self, level: int) -> np.ndarray:
        codes = self.level_codes(level)
        return codes[self.valid[codes]]

    def ancestors(self, items: np.ndarray) -> np.ndarray:
        """[n, depth + 1]: the code of each item's ancestor at every level (column l = level l)."""
        codes = self.leaf_code[np.asarray(items)]
        out = np.empty((len(codes), self.depth + 1), dtype=np.int64)
        out[:, self.depth] = codes
        for level in range(self.depth - 1, -1, -1):
            out[:, level] = (out[:, level + 1] - 1) // self.branching
        return out

    def leaves_under(self, code: int) -> np.ndarray:
        """Items below a node, in leaf order."""
        level = int(self.level_of(code))
        span = self.branching ** (self.depth - level)
        first = code
        for _ in range(self.depth - level):
            first = first * self.branching + 1
        items = self.item_at[first:first + span]
        return items[items >= 0]

    def start_level(self, beam: int) -> int:
        """The first level that has at least ``beam`` nodes (KDD'18, Sec. 3.2)."""
        for level in range(self.depth + 1):
            if len(self.nodes_at(level)) >= beam:
                return level
        return self.depth

    def leaf_order(self) -> np.ndarray:
        """Items left to right."""
        return self.item_at[self.level_codes(self.depth)][self.item_at[self.level_codes(self.depth)] >= 0]

    def is_balanced(self) -> bool:
        """Siblings' item counts differ by at most one wherever a node splits."""
        for level in range(self.depth):
            parents = self.nodes_at(level)
            kids = self.count[self.children(parents)]
            if (kids.max(1) - kids.min(1) > 1).any():
                return False
        return True


def split_sizes(n: int, parts: int) -> list[int]:
    q, r = divmod(n, parts)
    return [q + 1] * r + [q] * (parts - r)


def tree_from_order(order: np.ndarray, branching: int, n_items: int) -> Tree:
    """Leaves in the given left-to-right item order, subtrees as balanced as possible."""
    depth = depth_for(n_items, branching)
    leaf_code = np.empty(n_items, dtype=np.int64)

    def place(items: np.ndarray, code: int, level: int) -> None:
        if level == depth:
            leaf_code[items[0]] = code
            return
        start = 0
        for child, size in enumerate(split_sizes(len(items), branching)):
            if size:
                place(items[start:start + size], code * branching + 1 + child, level + 1)
            start += size

    place(np.asarray(order, dtype=np.int64), 0, 0)
    return Tree(branching, depth, leaf_code)


def genre_tree(main_genre: np.ndarray, branching: int = 2, popularity: np.ndarray | None = None) -> Tree:
    """Initial tree: items ordered by category (then by popularity), recursively split."""
    n = len(main_genre)
    pop = np.zeros(n) if popularity is None else np.asarray(popularity, dtype=float)
    order = np.lexsort((np.arange(n), -pop, main_genre))
    return tree_from_order(order, branching, n)


def balanced_assign(x: np.ndarray, centres: np.ndarray, sizes: list[int]) -> np.ndarray:
    """Assign rows of x to clusters with exact sizes, preferring near centres.

    For two clusters this is optimal: sort by d0 - d1 and cut at sizes[0].  For
    more, items with the largest regret (2nd best - best distance) choose first.
    """
    d = ((x[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    if len(centres) == 2:
        order = np.argsort(d[:, 0] - d[:, 1], kind="stable")
        labels = np.ones(len(x), dtype=np.int64)
        labels[order[: sizes[0]]] = 0
        return labels
    labels = np.full(len(x), -1, dtype=np.int64)
    room = np.array(sizes)
    sorted_d = np.sort(d, axis=1)
    for i in np.argsort(-(sorted_d[:, 1] - sorted_d[:, 0]), kind="stable"):
        choices = np.argsort(d[i])
        labels[i] = next(c for c in choices if room[c] > 0)
        room[labels[i]] -= 1
    return labels


def balanced_kmeans(x: np.ndarray, parts: int, rng: np.random.Generator, iterations: int = 10) -> np.ndarray:
    sizes = split_sizes(len(x), parts)
    if len(x) <= parts:
        return np.arange(len(x))
    centres = x[rng.choice(len(x), parts, replace=False)]
    labels = balanced_assign(x, centres, sizes)
    for _ in range(iterations):
        centres = np.stack([x[labels == j].mean(0) if (labels == j).any() else centres[j] for j in range(parts)])
        new = balanced_assign(x, centres, sizes)
        if np.array_equal(new, labels):
            break
        labels = new
    return labels


def kmeans_tree(embeddings: np.ndarray, branching: int = 2, seed: int = 0) -> Tree:
    """TDM's tree learning (KDD'18 Sec. 3.4): balanced hierarchical k-means on learned leaf embeddings."""
    rng = np.random.default_rng(seed)
    x = np.asarray(embeddings, dtype=np.float64)
    order: list[int] = []

    def split(items: np.ndarray) -> None:
        if len(items) <= 1:
            order.extend(items.tolist())
            return
        labels = balanced_kmeans(x[items], branching, rng)
        for j in range(branching):
            split(items[labels == j])

    split(np.arange(len(x)))
    return tree_from_order(np.array(order), branching, len(x))


class HistoryCounts:
    """Per user, how many of the user's history items lie below each node.

    Stored sparsely (only nodes with at least one history leaf): every history leaf
    contributes one to each of its ``depth + 1`` ancestors, counted with ``np.unique``
    over (user, ancestor) keys.  ``self(codes)`` looks counts up for a [U, C] array of
    node codes (-1 = no node, count 0).  A node is *fully watched* when its count equals
    ``tree.count`` and *partially watched* when the count is between 0 and that.
    """

    def __init__(self, tree: Tree, histories: list[np.ndarray]):
        self.tree, self.n_users = tree, len(histories)
        users, items = [], []
        for u, h in enumerate(histories):
            h = np.unique(np.asarray(h, dtype=np.int64))
            h = h[(h >= 0) & (h < tree.n_items)]
            users.append(np.full(len(h), u, dtype=np.int64))
            items.append(h)
        users = np.concatenate(users) if users else np.zeros(0, dtype=np.int64)
        items = np.concatenate(items) if items else np.zeros(0, dtype=np.int64)
        keys = (users[:, None] * tree.n_codes + tree.ancestors(items)).ravel()
        self.keys, self.counts = np.unique(keys, return_counts=True)

    def __call__(self, codes: np.ndarray) -> np.ndarray:
        codes = np.asarray(codes)
        if not len(self.keys):
            return np.zeros(codes.shape, dtype=np.int64)
        keys = np.arange(codes.shape[0])[:, None] * self.tree.n_codes + np.maximum(codes, 0)
        at = np.searchsorted(self.keys, keys).clip(max=len(self.keys) - 1)
        return np.where((self.keys[at] == keys) & (codes >= 0), self.counts[at], 0)


# ---------------------------------------------------------------------------- JTM tree learning


def descendants_at(tree: Tree, codes: np.ndarray, down: int) -> np.ndarray:
    """[..., b**down] codes ``down`` levels below each code, left to right."""
    b = tree.branching
    span = b ** down
    first = np.asarray(codes) * span + (span - 1) // (b - 1)
    return first[..., None] + np.arange(span)


def tree_log_likelihood(tree: Tree, log_prob, pair_targets: np.ndarray, levels: range | None = None) -> float:
    """JTM's objective L(pi) (NeurIPS'19 Eq. 3) on sampled pairs: sum over (user, item) pairs and
    over levels of log p(ancestor of the item at that level | user).  ``log_prob(pairs, codes)``
    gives [S, P] log-probabilities of node codes for pair indices [S].  By default the levels
    1 .. depth-1: the root is shared by all items and a leaf's score follows its item."""
    levels = levels if levels is not None else range(1, tree.depth)
    anc = tree.ancestors(pair_targets)[:, list(levels)]
    return float(log_prob(np.arange(len(pair_targets)), anc).sum()) if anc.size else 0.0


def balanced_assignment(gain: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Items -> slots maximising the summed gain with exactly ``capacity[s]`` items in slot s.

    Algorithm 2's step 5 solved exactly: each slot is repeated ``capacity`` times and the
    items matched to those copies by the Hungarian method (scipy's ``linear_sum_assignment``).
    The paper uses a greedy with rebalancing; a greedy that moves items out of over-full
    slots one by one lost to the input tree here, so the exact matching is used."""
    from scipy.optimize import linear_sum_assignment

    copies = np.repeat(np.arange(gain.shape[1]), capacity)
    rows, cols = linear_sum_assignment(gain[:, copies], maximize=True)
    labels = np.empty(gain.shape[0], dtype=np.int64)
    labels[rows] = copies[cols]
    return labels


def _path_gains(tree: Tree, log_prob, pairs: np.ndarray, parents: np.ndarray, top: int, bottom: int) -> np.ndarray:
    """[S, b**(bottom-top)]: for each pair and each slot below its parent, the sum of log p over the
    slot's ancestors at levels top+1 .. bottom (the leaf level left out: it follows the item)."""
    d = bottom - top
    total = np.zeros((len(pairs), tree.branching ** d))
    for j in range(1, d + 1):
        if top + j == tree.depth:
            break
        nodes = descendants_at(tree, parents, j)  # [S, b**j]
        total += np.repeat(log_prob(pairs, nodes), tree.branching ** (d - j), axis=1)
    return total


def jtm_tree(tree: Tree, log_prob, pair_targets: np.ndarray, gap: int = 4) -> tuple[Tree, dict]:
    """JTM's tree learning (NeurIPS'19 Algorithm 2): items re-assigned level by level, ``gap`` levels
    at a time, to maximise L(pi) under the current model.

    For every node n at level l - d, the items below it are re-assigned among its descendants at
    level l (d = gap) to maximise the summed log p of each item's new ancestors at levels
    l-d+1 .. l over the item's training pairs; each descendant keeps its item count (the tree
    stays balanced; :func:`balanced_assignment` solves it exactly).  Then l advances by d.  The slot gains are
    vectorised over all sampled pairs: one ``log_prob`` call per level and pass.

    A greedy pass need not raise the total (deeper levels change too), so the result is compared
    with the input on L(pi) and the input is returned when it is not worse: the step never lowers
    the objective.  Returns the tree and a report (objective before / after, items moved)."""
    gap = max(1, int(gap))
    pair_targets = np.asarray(pair_targets)
    pairs = np.arange(len(pair_targets))
    node = np.zeros(tree.n_items, dtype=np.int64)  # each item's node at the current level
    top = 0
    while top < tree.depth:
        bottom = min(top + gap, tree.depth)
        gains = _path_gains(tree, log_prob, pairs, node[pair_targets], top, bottom)
        item_gain = np.zeros((tree.n_items, gains.shape[1]))
        np.add.at(item_gain, pair_targets, gains)
        new_node = np.empty_like(node)
        old_below = tree.ancestors(np.arange(tree.n_items))[:, bottom]
        for parent in np.unique(node):
            items = np.flatnonzero(node == parent)
            slots = descendants_at(tree, parent, bottom - top)
            capacity = tree.count[slots]
            gain = item_gain[items] + 1e-9 * (old_below[items, None] == slots)  # ties: stay
            new_node[items] = slots[balanced_assignment(gain, capacity)]
        node, top = new_node, bottom
    learned = Tree(tree.branching, tree.depth, node)
    before = tree_log_likelihood(tree, log_prob, pair_targets)
    after = tree_log_likelihood(learned, log_prob, pair_targets)
    report = {"objective_before": before, "objective_after": after, "pairs": int(len(pair_targets)), "gap": gap,
              "moved": int((learned.leaf_code != tree.leaf_code).sum()), "kept_input": bool(after < before)}
    return (tree if after < before else learned), report
