"""TDM (Zhu et al., KDD'18) learned for the study's scorer: a balanced binary tree over the catalogue, a
node model trained so that beam search follows the max-heap rule, tree re-learning, and a layer-wise beam
search whose last level is scored by the scorer itself.

* Initial tree (Sec. 3.4, tree initialisation): balanced hierarchical 2-means on the item vectors,
  vectorised level by level (:func:`balanced_tree`); heap codes, every leaf on level D = ceil(log2 n).
* Node model (Sec. 3.1-3.3): the :class:`~.pair_mlp.TorchPairMLP` form over (query, node embedding), one
  embedding per node initialised to the mean of its items' vectors, the network warm-started from the
  scorer's own weights (so before training it *is* :func:`untrained_tdm`), trained by binary cross-entropy
  (Sec. 3.3, Eq. 3) on layer-wise samples (:func:`layerwise_samples`): positives are the ancestors of the
  scorer's top items at every level, negatives uniform draws from the same level.
* Tree re-learning (Sec. 3.4, tree learning): balanced k-means on the learned leaf embeddings
  (:func:`relearn_tree`), then the node model is trained again (warm start).
* Retrieval (Sec. 3.2, Algorithm 1): from the first level with >= B nodes, keep the B best nodes per level
  by the node model; the leaves under the last beam are scored by the scorer (:meth:`TDMIndex.search`).

Epochs and rounds are chosen on a held-out slice of the training queries (the untrained start included).
Measured: for the non-linear scorer (lam = 1) learning raises recall at equal evaluations; for the inner
product (lam = 0) it does not beat ``<q, node mean>``: a single vector per node cannot express the max of
its items' inner products (per-node logistic regression on every node of one level, fitted on the training
queries, moved their ranking on those queries by ~0.01 and lost ~0.09 on held-out ones), so validation
keeps the untrained start.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .base import Found
from .brute import top_k
from .pair_mlp import PairMLP, TorchPairMLP
from .world import TrainingSet, World


@dataclass
class Tree:
    """A binary tree in heap codes (root 0, children of c are 2c+1 and 2c+2), every leaf on level ``depth``."""
    depth: int
    leaf: np.ndarray  # [n] heap code of each item's leaf

    def __post_init__(self):
        n_codes = 2 ** (self.depth + 1) - 1
        self.item_at = np.full(n_codes, -1, dtype=np.int64)
        self.item_at[self.leaf] = np.arange(len(self.leaf))
        self.count = np.zeros(n_codes, dtype=np.int64)
        self.count[self.leaf] = 1
        for level in range(self.depth - 1, -1, -1):
            codes = np.arange(2 ** level - 1, 2 ** (level + 1) - 1)
            self.count[codes] = self.count[2 * codes + 1] + self.count[2 * codes + 2]
        self.valid = self.count > 0
        self.level_nodes = [c[self.valid[c]] for c in (np.arange(2 ** l - 1, 2 ** (l + 1) - 1)
                                                       for l in range(self.depth + 1))]

    @property
    def n_items(self) -> int:
        return len(self.leaf)

    def ancestors(self, items: np.ndarray, level: int) -> np.ndarray:
        """The level-``level`` ancestor of each item (same shape as ``items``)."""
        return ((self.leaf[items] + 1) >> (self.depth - level)) - 1

    def node_means(self, vectors: np.ndarray) -> np.ndarray:
        """[n_codes, d]: the mean of the vectors of the items below every node (zeros where empty)."""
        sums = np.zeros((len(self.count), vectors.shape[1]), dtype=np.float64)
        sums[self.leaf] = vectors
        for level in range(self.depth - 1, -1, -1):
            codes = np.arange(2 ** level - 1, 2 ** (level + 1) - 1)
            sums[codes] = sums[2 * codes + 1] + sums[2 * codes + 2]
        return (sums / np.maximum(self.count, 1)[:, None]).astype(np.float32)

    def is_balanced(self) -> bool:
        """Siblings' item counts differ by at most one everywhere."""
        inner = np.arange(2 ** self.depth - 1)
        return bool((np.abs(self.count[2 * inner + 1] - self.count[2 * inner + 2]) <= 1).all())


def balanced_tree(x: np.ndarray, seed: int, iterations: int = 3) -> Tree:
    """Balanced hierarchical 2-means (KDD'18 Sec. 3.4), all nodes of a level split at once.

    In every node, 2-means (centres from a random member and its mirror through the node's mean,
    ``iterations`` Lloyd steps), then the balanced cut: items ranked by |x - c0|^2 - |x - c1|^2
    (= -2 x.(c0 - c1) + const, the optimal balanced assignment for two centres), the first
    ceil(m/2) to the left child, the rest to the right; so siblings differ by at most one item.
    The items are kept sorted by node, so every node's items are contiguous."""
    n = len(x)
    depth = max(1, int(np.ceil(np.log2(max(n, 2)))))
    rng = np.random.default_rng(seed)
    order = np.arange(n)  # items sorted by node; xs = x[order]
    xs = np.asarray(x, dtype=np.float32).copy()
    counts = np.array([n])
    for level in range(depth):
        width = 2 ** level
        local = np.repeat(np.arange(width), counts)
        lengths = torch.from_numpy(counts)
        mean = _segment_sums(xs, lengths) / np.maximum(counts, 1)[:, None]
        pick = xs[np.r_[0, np.cumsum(counts)[:-1]] + (rng.random(width) * (counts - 1)).round().astype(np.int64)]
        c0, c1 = pick, 2 * mean - pick
        for _ in range(iterations if counts.max() > 2 else 0):  # Lloyd steps (unbalanced)
            right = _nearer_c1(xs, counts, c0, c1) > 0
            r_n = np.bincount(local[right], minlength=width)
            sums = _segment_sums(np.compress(right, xs, axis=0), torch.from_numpy(r_n))
            c1 = np.where(r_n[:, None] > 0, sums / np.maximum(r_n, 1)[:, None], c1)
            l_n = counts - r_n
            c0 = np.where(l_n[:, None] > 0, (mean * counts[:, None] - sums) / np.maximum(l_n, 1)[:, None], c0)
        proj = _nearer_c1(xs, counts, c0, c1)
        within = np.argsort(local + 0.5 + 0.49 * proj / (1.0 + np.abs(proj)))  # by node, nearer c0 first
        order, xs = np.take(order, within), np.take(xs, within, axis=0)
        left = (counts + 1) // 2
        counts = np.stack([left, counts - left], 1).ravel()
    leaf = np.empty(n, dtype=np.int64)
    leaf[order] = np.repeat(np.arange(2 ** depth), counts) + 2 ** depth - 1
    return Tree(depth, leaf)


def _segment_sums(xs: np.ndarray, lengths: torch.Tensor) -> np.ndarray:
    """[len(lengths), d] sums of consecutive runs of rows."""
    return torch.segment_reduce(torch.from_numpy(xs), "sum", lengths=lengths, axis=0).double().numpy()


def _nearer_c1(xs: np.ndarray, counts: np.ndarray, c0: np.ndarray, c1: np.ndarray) -> np.ndarray:
    """(|x - c0|^2 - |x - c1|^2) / 2 of each item against its node's two centres (> 0: nearer c1)."""
    direction = (c1 - c0).astype(np.float32)
    offset = (0.5 * ((c1 ** 2).sum(1) - (c0 ** 2).sum(1))).astype(np.float32)
    return np.einsum("nd,nd->n", xs, np.repeat(direction, counts, axis=0)) - np.repeat(offset, counts)


class TDMIndex:
    """Beam search over the tree (KDD'18 Sec. 3.2, Algorithm 1); the last level re-scored by the scorer."""
    knob = "beam"

    def __init__(self, name: str, world: World, tree: Tree, vectors: np.ndarray, node_scorer: PairMLP,
                 log: dict | None = None):
        self.name, self.world, self.tree, self.node_scorer = name, world, tree, node_scorer
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)  # [n_codes, d] node embeddings
        self.log = log or {}
        self.level_sizes = np.array([len(c) for c in tree.level_nodes])

    def settings(self) -> list[int]:
        """Beams from 2, about x1.5 apart, up to max(1024, n / 32); ending with the whole level above the
        leaves (every item scored: recall 1) when that is within the range."""
        cap, top = int(self.level_sizes[-2]), max(1024, self.tree.n_items // 32)
        beams = sorted({int(round(2 * 1.5 ** i)) for i in range(40)})
        return [b for b in beams if b <= top and b < cap] + ([cap] if cap <= top else [])

    def start_level(self, beam: int) -> int:
        """The first level with at least ``beam`` nodes (the leaves when none has)."""
        at = np.flatnonzero(self.level_sizes >= beam)
        return int(at[0]) if len(at) else self.tree.depth

    def search(self, query: np.ndarray, k: int, setting: int) -> Found:
        """Evaluations: every node scored by the node model (the whole start level, then the children of
        the kept nodes level by level) plus every leaf scored by the scorer."""
        tree, beam = self.tree, max(1, int(setting))
        level = self.start_level(beam)
        nodes = tree.level_nodes[level]
        evaluations = 0
        if level < tree.depth:
            state = self.node_scorer.query_state(query)
        while level < tree.depth:
            scores = self.node_scorer.score(state, np.take(self.vectors, nodes, axis=0))
            evaluations += len(nodes)
            if len(nodes) > beam:
                nodes = nodes[np.argpartition(-scores, beam - 1)[:beam]]
            nodes = np.concatenate([2 * nodes + 1, 2 * nodes + 2])
            nodes = nodes[tree.valid[nodes]]
            level += 1
        items = tree.item_at[nodes]
        scorer = self.world.scorer
        scores = scorer.score(scorer.query_state(query), np.take(self.world.items, items, axis=0))
        return Found(top_k(scores, items, k), evaluations + len(items))

    def nbytes(self) -> int:
        t = self.tree
        own = sum(a.nbytes for a in (t.leaf, t.item_at, t.count, t.valid, *t.level_nodes))
        shared = self.node_scorer is self.world.scorer
        return own + self.vectors.nbytes + (0 if shared else self.node_scorer.nbytes())


def untrained_tdm(world: World, seed: int) -> TDMIndex:
    """The initial k-means tree with no learning: nodes scored by the scorer on their items' mean vector."""
    tree = balanced_tree(world.items, seed)
    return TDMIndex("tdm_untrained", world, tree, tree.node_means(world.items), world.scorer)


class NodeModel(nn.Module):
    """p(n | q) of TDM (Sec. 3.3): the pair network over (query, node embedding), plus a bias per level
    (constant within a level, so it never changes the beam; it absorbs each level's base rate).

    The node embeddings are a plain table updated by SGD on the rows of each batch (sparse, no optimiser
    state: a table of 2 n rows stays cheap at 10^6 items)."""

    def __init__(self, vectors: np.ndarray, depth: int, scorer: PairMLP):
        super().__init__()
        self.pair = TorchPairMLP(vectors.shape[1], scorer.hidden)
        self.level_bias = nn.Parameter(torch.zeros(depth + 1))
        with torch.no_grad():  # warm start: the scorer itself (so before training it is the untrained index)
            for layer, w in ((self.pair.wq, scorer.wq), (self.pair.wv, scorer.wv), (self.pair.wx, scorer.wx)):
                layer.weight.copy_(torch.from_numpy(w))
            self.pair.wq.bias.copy_(torch.from_numpy(scorer.b))
            self.pair.w2.weight.copy_(torch.from_numpy(scorer.w2 * np.float32(scorer.lam / scorer.scale))[None])
        self.table = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))

    def forward(self, q: torch.Tensor, codes: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
        self.batch_emb = self.table[codes].requires_grad_()
        return self.pair(q, self.batch_emb) + self.level_bias[levels]

    def step_table(self, codes: torch.Tensor, lr: float) -> None:
        """SGD on the embeddings of this batch's nodes (``lr`` per sample: the loss is a batch mean)."""
        self.table.index_add_(0, codes, self.batch_emb.grad, alpha=-lr * len(codes))

    def index(self, world: World, tree: Tree) -> TDMIndex:
        scorer = self.pair.export()
        scorer.lam = float(np.any(scorer.w2 != 0))  # w2 = 0 (the lam = 0 scorer untouched): skip the MLP
        return TDMIndex("tdm", world, tree, self.table.numpy().copy(), scorer)


def layerwise_samples(tree: Tree, top: np.ndarray, negatives: int,
                      rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """TDM's layer-wise samples (Sec. 3.3) for levels 1 .. D: for query i, its positives at a level are the
    distinct ancestors there of its top items; ``negatives`` nodes are drawn uniformly from the level and
    labelled by the same rule (a draw that is an ancestor counts as a positive: the max-heap label, Eq. 1,
    for the top-k set). Returns (query index, node code, level, label) arrays."""
    n_q, n_codes = len(top), len(tree.count)
    out = []
    for level in range(1, tree.depth + 1):
        anc = np.sort(tree.ancestors(top, level), axis=1)
        new = np.ones(anc.shape, dtype=bool)
        new[:, 1:] = anc[:, 1:] != anc[:, :-1]
        rows = np.repeat(np.arange(n_q), new.sum(1))
        pool = tree.level_nodes[level]
        m = min(negatives, len(pool))
        draw = pool[rng.integers(0, len(pool), n_q * m)]
        d_rows = np.repeat(np.arange(n_q), m)
        keys = (np.arange(n_q)[:, None] * n_codes + anc).ravel()  # ascending: by row, then by code
        drawn = d_rows * n_codes + draw
        hit = keys[np.searchsorted(keys, drawn).clip(max=len(keys) - 1)] == drawn
        out.append((np.r_[rows, d_rows], np.r_[anc[new], draw], np.full(len(rows) + len(draw), level),
                    np.r_[np.ones(len(rows)), hit]))
    return tuple(np.concatenate(parts) for parts in zip(*out))


def _epoch(model: NodeModel, opt, emb_lr: float, tree: Tree, queries: torch.Tensor, top: np.ndarray,
           negatives: int, batch: int, rng: np.random.Generator) -> float:
    """One pass of binary cross-entropy (Sec. 3.3, Eq. 3) over fresh layer-wise samples; mini-batches."""
    rows, codes, levels, labels = (torch.from_numpy(a) for a in layerwise_samples(tree, top, negatives, rng))
    labels, perm, total = labels.float(), torch.from_numpy(rng.permutation(len(rows))), 0.0
    for start in range(0, len(perm), batch):
        b = perm[start:start + batch]
        loss = nn.functional.binary_cross_entropy_with_logits(model(queries[rows[b]], codes[b], levels[b]), labels[b])
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.step_table(codes[b], emb_lr)
        total += loss.item() * len(b)
    return total / len(perm)


def relearn_tree(tree: Tree, table: np.ndarray, seed: int) -> tuple[Tree, np.ndarray]:
    """Tree learning (KDD'18 Sec. 3.4): balanced k-means on the learned leaf embeddings gives the new tree;
    each item keeps its leaf embedding, every inner node starts at the mean of its leaves' embeddings."""
    leaf_emb = table[tree.leaf]
    new = balanced_tree(leaf_emb, seed)
    return new, new.node_means(leaf_emb)


def beam_recall(index: TDMIndex, queries: np.ndarray, top: np.ndarray, beam: int) -> float:
    """Mean share of each query's exact top-k that the beam search returns."""
    k = top.shape[1]
    return float(np.mean([len(np.intersect1d(index.search(q, k, beam).items, t)) / k for q, t in zip(queries, top)]))


def build_tdm(world: World, train: TrainingSet, seed: int, rounds: int = 2, epochs: int = 2, lr: float = 0.03,
              emb_lr: float = 0.003, negatives: int = 32, batch: int = 4096, holdout: float = 0.1,
              val_beams: tuple[int, ...] = (64, 256)) -> TDMIndex:
    """TDM learned for the scorer (name "tdm").

    Round 0 trains the node model on the k-means tree; each further round re-learns the tree (Sec. 3.4:
    balanced k-means on the learned leaf embeddings; node embeddings re-initialised to the mean of their
    leaves' embeddings, the pair network kept) and trains again. A held-out slice of the training queries
    (``holdout``) is searched after every epoch; the index returned is the (round, epoch) with the best mean
    validation recall at ``val_beams`` (epoch 0 of round 0 is the untrained model), so epochs are chosen
    on that slice and never on the study's test queries. ``index.log`` records losses, validation, seconds."""
    start, rng = time.perf_counter(), np.random.default_rng(seed)
    torch.manual_seed(seed)
    perm = rng.permutation(len(train.queries))
    n_val = max(1, int(round(holdout * len(perm))))
    fit_q = torch.as_tensor(train.queries[perm[n_val:]], dtype=torch.float32)
    fit_top, val_q, val_top = train.top[perm[n_val:]], train.queries[perm[:n_val]], train.top[perm[:n_val]]
    validate = lambda ix: float(np.mean([beam_recall(ix, val_q, val_top, b) for b in val_beams]))
    tree = balanced_tree(world.items, seed)
    model = NodeModel(tree.node_means(world.items), tree.depth, world.scorer)
    best = model.index(world, tree)
    best_val, best_at = validate(best), (0, 0)
    log = {"epochs": epochs, "lr": lr, "emb_lr": emb_lr, "negatives": negatives, "n_fit": len(fit_top),
           "n_val": n_val, "val_beams": list(val_beams), "depth": tree.depth, "val_untrained": best_val, "rounds": []}
    for r in range(rounds):
        t0 = time.perf_counter()
        if r:
            tree, vectors = relearn_tree(tree, model.table.numpy(), seed + r)
            model.table = torch.from_numpy(vectors)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        entry = {"round": r, "loss": [], "val": []}
        for e in range(1, epochs + 1):
            entry["loss"].append(_epoch(model, opt, emb_lr, tree, fit_q, fit_top, negatives, batch, rng))
            index = model.index(world, tree)
            entry["val"].append(validate(index))
            if entry["val"][-1] > best_val:
                best, best_val, best_at = index, entry["val"][-1], (r, e)
        entry["seconds"] = time.perf_counter() - t0
        log["rounds"].append(entry)
    log.update(seconds=time.perf_counter() - start, val_best=best_val,
               chosen={"round": best_at[0], "epoch": best_at[1]})
    best.log = log
    return best
