"""Tree-based Deep Model (Zhu et al., KDD'18) with two tree learners: TDM's k-means and JTM's (NeurIPS'19).

* Samples (KDD'18 Sec. 3.3, the max-heap-like rule): for a positive (user, item),
  every ancestor of the item's leaf is a positive at its level; negatives are
  drawn uniformly from the other nodes of the same level, more of them toward
  the leaves (x-deeplearning's per-level counts, scaled to our depth).
* Scorer (Sec. 3.5, Fig. 2): the history is cut into time windows (recent items
  in small ones); DIN-style target attention weighs each behaviour against the
  node embedding (input [b, b*n, n] -> MLP -> weight); each window is pooled;
  windows + node embedding -> MLP 128-64-32 -> logit.  Node and item embeddings
  share one table (a history item is looked up by its leaf code).
* Retrieval (Sec. 3.2, Algorithm 1): layer-wise beam search from the first level
  with >= B nodes; score the children of the beam, keep the top B, descend; at
  the leaves return the top K.  The user's history is excluded inside the beam
  (watched subtrees skipped, the beam widened by partially watched nodes), which
  keeps the search exact under a max-heap scorer: see :meth:`TDM.retrieve`.
* Tree learning, R rounds, one of (``TDMConfig.tree_learning``):
  - "kmeans": k-means on leaf embeddings (TDM, KDD'18 Sec. 3.4): the learned item
    embeddings re-clustered by balanced hierarchical k-means; inner nodes start as
    the mean of their items' embeddings;
  - "jtm": JTM greedy assignment (Zhu et al., NeurIPS'19, Algorithm 2, gap d): items
    re-assigned d levels at a time to maximise the current model's log-likelihood of
    their ancestors on sampled training pairs; inner nodes keep their learned embedding
    (the assignment was chosen for them).
  Items keep their embedding under their new leaf code; the model is retrained on the new tree.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data import Split, history_matrix, sliding_window_samples
from .encoders import mlp
from .protocol import (RetrievalResult, Retriever, budget_curve, checked_size, pack_ranked, ranking_metrics,
                       top_k_excluding)
from .tdm_tree import HistoryCounts, Tree, depth_for, genre_tree, jtm_tree, kmeans_tree
from .trace import SearchTrace, TraceStep
from .training import Progress, TrainLog, fit, set_seed, trim_padding

# x-deeplearning TDM's negatives per level for a 23-level tree (level 0 = root).
OFFICIAL_NEGATIVES = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17, 19, 22, 25, 30, 76, 200]


@dataclass
class TDMConfig:
    SERVING: ClassVar[tuple[str, ...]] = ("beam", "exclude_history_in_beam")  # search-time only: reuse the model
    branching: int = 2
    dim: int = 24
    attention_hidden: int = 24
    hidden: tuple[int, ...] = (128, 64, 32)
    windows: tuple[int, ...] = (1, 1, 2, 2, 4, 4, 6, 8, 10, 12)  # most recent first; sums to max_len
    negative_scale: float = 0.05  # fraction of the official per-level counts (see negatives_per_level).  Validation
    # beam recall@50 of the last round (seed 0), 0.1 vs 0.05: 0.390 vs 0.390, 48 vs 33 nodes per sample, an epoch
    # 15 s -> 11 s (issue 13); a smaller MLP (64, 32) as well cost 0.005 more for 1.7 s less an epoch
    negative_sampling: str = "frequency"  # or "uniform"; frequency: nodes drawn by their items' counts ** 0.75
    epochs: int = 4  # first round, on the genre tree
    round_epochs: int = 1  # each tree-learning round.  Validation beam recall@50 (seed 0) by epoch of round 1:
    # 0.3938 0.3944 0.3946, of round 2: 0.3979 0.3982 0.3904 -- a round's gain comes with its new tree and its
    # first epoch, so one epoch per round (3 were 66 s of a 198 s training; issue 13)
    tree_rounds: int = 2
    batch_size: int = 256
    epoch_samples: int = 80_000  # an epoch is at most this many samples, then validation (training.fit): a
    # no-op on ml-100k (38,551 samples).  synthetic-10k (217,348), seed 0, validation beam recall@50 of the genre /
    # learned 1 / learned 2 rounds: whole passes 0.222 / 0.208 / 0.211 (one thread, 906 s), 100k 0.215 / 0.207 /
    # 0.207 (463 s), 80k 0.211 / 0.204 / 0.198 (399 s in the first run).  The whole passes served their last
    # round, 0.211; at 80k the best round (served_round) is served: 0.211, and all six models train in 10 minutes
    # (issue 13 §4)
    lr: float = 2e-2  # high on purpose: at 3e-3 the attention model sits on a popularity-only plateau.  Decayed along a
    # cosine (training.fit's schedule) with 3 first-round epochs instead of 4 it lost: last round's validation beam
    # recall 0.390 -> 0.363 (seed 0)
    beam: int = 50
    exclude_history_in_beam: bool = True  # skip watched subtrees, keep down to the B-th clean node (exact; TDM.retrieve)
    # "kmeans" (KDD'18 Sec. 3.4) or "jtm" (NeurIPS'19 Algorithm 2); see TREE_LEARNERS.  k-means is the default:
    # on ml-100k validation (seed 0) JTM's step lowered L(pi) at gaps 1, 2 and 4, so it kept the input tree
    tree_learning: str = "kmeans"
    jtm_gap: int = 4  # JTM's gap d: levels re-assigned at a time
    jtm_pairs: int = 20000  # training pairs sampled to evaluate L(pi) (bounds the cost)
    # also feed pooled-history ⊙ node to the MLP (a DIN-style cross feature: an MLP learns products poorly);
    # chosen on validation users (quick profile, seed 0): brute-force recall@50 0.348 -> 0.379, beam 0.375
    cross: bool = True
    init_std: float = 0.05


# how each tree learner is named in code, reports and on the page
TREE_LEARNERS = {
    "kmeans": "k-means on leaf embeddings (TDM, KDD'18)",
    "jtm": "JTM greedy assignment (NeurIPS'19 Alg. 2, gap d)",
}


def negatives_per_level(depth: int, n_nodes: list[int], scale: float) -> np.ndarray:
    """Official counts stretched over our depth and scaled; never more than the level's other nodes."""
    index = np.round(np.arange(depth + 1) * (len(OFFICIAL_NEGATIVES) - 1) / depth).astype(int)
    counts = np.ceil(np.array(OFFICIAL_NEGATIVES)[index] * scale).astype(int)
    counts[1:] = np.maximum(counts[1:], 1)
    return np.minimum(counts, np.array(n_nodes) - 1).clip(min=0)


class LayerwiseSampler:
    """Positive = the target's ancestor at each level; negatives from that level's other nodes,
    uniformly or, with ``node_weight``, in proportion to it (e.g. item frequency)."""

    def __init__(self, tree: Tree, negatives: np.ndarray, node_weight: np.ndarray | None = None):
        self.tree = tree
        self.negatives = negatives
        self.levels = [l for l in range(1, tree.depth + 1)]
        self.level_nodes = [tree.nodes_at(l) for l in range(tree.depth + 1)]
        self.level_cdf = None
        if node_weight is not None:
            self.level_cdf = []
            for nodes in self.level_nodes:
                w = np.asarray(node_weight[nodes], dtype=np.float64) + 1e-9
                self.level_cdf.append(np.cumsum(w) / w.sum())

    def sample(self, targets: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Returns node codes [S, P], labels [S, P] and the level of each column [P]."""
        anc = self.tree.ancestors(targets)
        codes, labels, levels = [], [], []
        for level in self.levels:
            nodes, k = self.level_nodes[level], int(self.negatives[level])
            pos = anc[:, level]
            codes.append(pos[:, None])
            labels.append(np.ones((len(targets), 1), dtype=np.float32))
            levels.append(level)
            if k:
                pos_index = np.searchsorted(nodes, pos)
                if self.level_cdf is None:
                    draw = rng.integers(0, len(nodes) - 1, size=(len(targets), k))
                    draw += draw >= pos_index[:, None]  # skip the positive: uniform over the others
                else:
                    draw = self._weighted(level, pos_index, k, rng)
                codes.append(nodes[draw])
                labels.append(np.zeros((len(targets), k), dtype=np.float32))
                levels.extend([level] * k)
        return np.concatenate(codes, 1), np.concatenate(labels, 1), np.array(levels)

    def _weighted(self, level: int, pos_index: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
        cdf = self.level_cdf[level]
        draw = np.searchsorted(cdf, rng.random((len(pos_index), k)), side="right").clip(max=len(cdf) - 1)
        clash = draw == pos_index[:, None]
        while clash.any():  # redraw the positive: sampling among the other nodes
            draw[clash] = np.searchsorted(cdf, rng.random(clash.sum()), side="right").clip(max=len(cdf) - 1)
            clash = draw == pos_index[:, None]
        return draw


def window_sizes(windows: tuple[int, ...], max_len: int) -> list[int]:
    """The configured windows (most recent first) cut or stretched to cover exactly ``max_len`` positions."""
    sizes, left = [], max_len
    for w in windows:
        if left <= 0:
            break
        sizes.append(min(w, left))
        left -= sizes[-1]
    if left > 0:
        sizes[-1] += left
    return sizes


def node_sampling_weights(tree: Tree, item_counts: np.ndarray) -> np.ndarray:
    """Frequency-sampling weight of every node: the sum of its items' (count + 1) ** 0.75."""
    weight = np.zeros(tree.n_codes)
    weight[tree.leaf_code] = (np.asarray(item_counts, dtype=np.float64) + 1.0) ** 0.75
    for level in range(tree.depth - 1, -1, -1):
        codes = tree.level_codes(level)
        weight[codes] = weight[tree.children(codes)].sum(-1)
    return weight


def sampling_correction(tree: Tree, item_counts: np.ndarray) -> np.ndarray:
    """log q(n) of each node within its level.  With negatives drawn from q, the BCE logit learns
    about log p(n|u) - log q(n) - log k; adding log q(n) back ranks nodes by p(n|u) again."""
    weight = node_sampling_weights(tree, item_counts)
    out = np.zeros(tree.n_codes)
    for level in range(tree.depth + 1):
        codes = tree.level_codes(level)
        total = weight[codes].sum()
        out[codes] = np.log(np.maximum(weight[codes], 1e-12) / total)
    return out


# (user, node) pairs per call of the scorer when searching: the attention's [pairs, L, h] hidden layer of about 512
# pairs stays in a core's L2 cache.  One thread, 10,000 leaves per user: 8.2 us a pair in calls of 4,096 pairs (a
# whole user's row at once before), 3.4-3.7 us at 256-512; a beam's 100 children: 4.6 -> 3.4 us (issue 13 §4)
SCORE_CHUNK = 512


class TDMScorer(nn.Module):
    """score(user history, node) with windowed DIN-style target attention."""

    def __init__(self, n_codes: int, cfg: TDMConfig, max_len: int):
        super().__init__()
        self.pad = n_codes
        self.embedding = nn.Embedding(n_codes + 1, cfg.dim, padding_idx=n_codes)
        nn.init.normal_(self.embedding.weight, std=cfg.init_std)
        self.att_b = nn.Linear(cfg.dim, cfg.attention_hidden)
        self.att_bn = nn.Linear(cfg.dim, cfg.attention_hidden, bias=False)
        self.att_n = nn.Linear(cfg.dim, cfg.attention_hidden, bias=False)
        self.att_out = nn.Linear(cfg.attention_hidden, 1)
        # window membership of each history position; position max_len-1 is the most recent
        sizes = window_sizes(cfg.windows, max_len)
        owner = np.repeat(np.arange(len(sizes)), sizes)[::-1].copy()
        self.register_buffer("window_of", F.one_hot(torch.as_tensor(owner), len(sizes)).float())
        self.cross = cfg.cross
        self.mlp = mlp([(len(sizes) + 1 + int(cfg.cross)) * cfg.dim, *cfg.hidden, 1])

    def forward(self, history_codes: torch.Tensor, node_codes: torch.Tensor) -> torch.Tensor:
        """history_codes [S, L] (leaf codes, pad = n_codes), node_codes [S, P] -> logits [S, P]."""
        b = self.embedding(history_codes)  # [S, L, d]
        n = self.embedding(node_codes)  # [S, P, d]
        S, L, d = b.shape
        P = n.shape[1]
        mask = (history_codes != self.pad).to(b.dtype)  # [S, L]
        window_of = self.window_of[self.window_of.shape[0] - L:]  # a batch may come trimmed of leading padding
        # First attention layer on [b, b*n, n]: W_b b + W_bn (b*n) + W_n n + c.  For a fixed node n the
        # b-terms are one linear map of b, diag(n) W_bn + W_b, so all pairs come out of a single bmm
        # of [b, 1] against a per-sample [(d+1), P*h] matrix (no [S, P, L, 3d] concat is built).
        per_node = n[..., None] * self.att_bn.weight.T + self.att_b.weight.T  # [S, P, d, h]
        node_term = (self.att_n(n) + self.att_b.bias)[:, :, None, :]  # [S, P, 1, h]
        h = per_node.shape[-1]
        mats = torch.cat([per_node, node_term], dim=2).permute(0, 2, 1, 3).reshape(S, d + 1, P * h)
        hidden = torch.bmm(torch.cat([b, b.new_ones(S, L, 1)], dim=-1), mats).view(S, L, P, h)
        weight = self.att_out(F.relu(hidden)).squeeze(-1) * mask[:, :, None]  # [S, L, P]
        # window pooling: a weighted mean of the behaviours of each window
        counts = (mask @ window_of).clamp(min=1.0)  # [S, W]
        per_window = (b[:, :, None, :] * window_of[None, :, :, None] / counts[:, None, :, None])
        pooled = torch.bmm(weight.transpose(1, 2), per_window.reshape(S, L, -1))  # [S, P, W*d]
        features = [pooled, n]
        if self.cross:
            features.append(pooled.view(S, P, -1, d).sum(2) * n)
        return self.mlp(torch.cat(features, dim=-1)).squeeze(-1)


@dataclass
class TDMRound:
    """One tree and the model trained on it."""

    tree: Tree
    state: dict
    report: dict = field(default_factory=dict)


def _width_to_bth_clean(clean_in_rank_order: np.ndarray, beam: int) -> np.ndarray:
    """Per user, how many top-ranked nodes reach the ``beam``-th clean one (all, if fewer)."""
    reached = np.cumsum(clean_in_rank_order, axis=1) >= beam
    return np.where(reached.any(1), reached.argmax(1) + 1, clean_in_rank_order.shape[1])


class TDM(Retriever):
    method = "tdm"

    def __init__(self, split: Split, cfg: TDMConfig, rounds: list[TDMRound], device=torch.device("cpu"),
                 log: dict | None = None, round_index: int = -1):
        self.split, self.cfg, self.rounds, self.device, self.log = split, cfg, rounds, device, log or {}
        self.n_items = split.n_items
        self.round_index = round_index % len(rounds)
        self.tree = rounds[self.round_index].tree
        model = TDMScorer(self.tree.n_codes, cfg, split.config.max_len).to(device)
        model.load_state_dict(rounds[self.round_index].state)
        self._attach(model.eval())

    @classmethod
    def probe(cls, split: Split, cfg: TDMConfig, tree: Tree, model: TDMScorer, device) -> "TDM":
        """A retriever over a model still in training (for validation)."""
        self = cls.__new__(cls)
        self.split, self.cfg, self.device, self.tree, self.n_items = split, cfg, device, tree, split.n_items
        self.rounds, self.log, self.round_index = [], {}, 0
        self._attach(model)
        return self

    def _attach(self, model: TDMScorer) -> None:
        self.model = model
        self.log_q = (sampling_correction(self.tree, self.split.item_counts)
                      if self.cfg.negative_sampling == "frequency" else np.zeros(self.tree.n_codes))

    def at_round(self, index: int) -> "TDM":
        """The same method with the tree (and weights) of another tree-learning round."""
        return TDM(self.split, self.cfg, self.rounds, self.device, self.log, index)

    # ------------------------------------------------------------ scoring
    def history_codes(self, histories: list[np.ndarray]) -> torch.Tensor:
        items = history_matrix(histories, self.split.config.max_len, self.split.pad)
        codes = np.where(items == self.split.pad, self.tree.n_codes, self.tree.leaf_code[np.minimum(items, self.n_items - 1)])
        return torch.as_tensor(codes, device=self.device)

    @torch.no_grad()
    def score_nodes(self, history_codes: torch.Tensor, nodes: np.ndarray, chunk: int = SCORE_CHUNK) -> np.ndarray:
        """Scores [U, P] of node codes [U, P] for each user's history, about ``chunk`` (user, node) pairs per call
        of the scorer: users in groups of similar history length, each trimmed of its all-padding positions, and
        a long row of nodes (brute force: every leaf) in slices. Every pair is scored on its own, so the split
        changes no score beyond float rounding; it changes the speed (see SCORE_CHUNK)."""
        nodes_t = torch.as_tensor(nodes, device=self.device)
        width = nodes.shape[1]
        users, cols = max(1, chunk // max(width, 1)), max(1, min(width, chunk))
        pad = self.tree.n_codes
        order = torch.argsort((history_codes != pad).sum(1), stable=True)
        out = torch.empty(nodes_t.shape, dtype=torch.float32, device=self.device)
        for i in range(0, len(nodes), users):
            part = order[i:i + users]
            hist = trim_padding(history_codes[part], pad)
            for j in range(0, width, cols):
                out[part, j:j + cols] = self.model(hist, nodes_t[part, j:j + cols]).float()
        return out.cpu().numpy() + self.log_q[nodes]

    # ------------------------------------------------------------ retrieval
    def score_table(self, histories) -> np.ndarray:
        """The scorer on every node of the tree for these users ([U, n_codes], -inf where the tree has no node):
        the leaves scored exactly as :meth:`brute_force` scores them, the inner nodes in one more pass (about as
        many again in a binary tree). A beam search of any width can read it (``retrieve``'s ``scores``), so the
        budget curve costs two brute forces instead of one search per beam (issue 13)."""
        tree, n_users = self.tree, len(histories)
        hist = self.history_codes(histories)
        table = np.full((n_users, tree.n_codes), -np.inf)
        table[:, tree.leaf_code] = self._every_item(hist)
        inner = np.concatenate([tree.nodes_at(level) for level in range(tree.depth)])
        table[:, inner] = self.score_nodes(hist, np.tile(inner, (n_users, 1)))
        return table

    def _every_item(self, hist: torch.Tensor) -> np.ndarray:
        """Scores [U, n_items] of every leaf, in item order: brute force's scores."""
        return self.score_nodes(hist, np.tile(self.tree.leaf_code, (len(hist), 1)))

    def retrieve(self, histories, k, trace=False, users=None, beam: int | None = None,
                 exclude_history_in_beam: bool | None = None, scores: np.ndarray | None = None):
        """Layer-wise beam search (KDD'18 Algorithm 1), vectorised over users.

        With ``exclude_history_in_beam`` (the default, ``cfg.exclude_history_in_beam``) the
        user's history is excluded inside the beam, not only at the leaves, so the search is
        exact under a max-heap scorer (node score = max of its leaves' scores) for k <= B:

        (a) a node all of whose leaves are in the history is dropped before it is scored;
        (b) at every inner level, nodes are kept in score order down to the B-th *clean* one
            (a node holding no history leaf), i.e. B plus the partially watched nodes that
            rank above it -- at most B + w, w = the number of partially watched nodes scored;
            at the leaf level the top k unwatched leaves.

        Why (b) suffices: a clean node's score is the score of one of its own unwatched leaves,
        so B clean nodes scoring >= s give B distinct unwatched leaves >= s: the B-th best
        unwatched leaf scores t >= s, where s is the B-th clean node's score.  Every ancestor
        of the top-B unwatched leaves scores >= t >= s (max-heap), so it ranks no lower than
        the B-th clean node and is kept.  (The looser rule "keep the top B + w" is exact for
        the same reason -- a node scoring >= t that holds none of the top-B unwatched leaves
        must hold a watched leaf >= t, so at most B + w nodes score >= t -- and keeps more.)
        ``n_scored`` counts every node scored, the extra width included.  With the switch
        off, the history is removed at the leaves only (the beam spends width on watched
        subtrees: issue 11 measured 0.26 of the exact top-50 kept when the history is a
        user's 40 best items).

        ``scores`` [U, n_codes]: these users' :meth:`score_table`, already computed; the search reads it instead
        of calling the model -- the same search and count of nodes scored (the budget curve's many beams).
        """
        beam = checked_size("beam", beam if beam is not None else self.cfg.beam, 1, 1 << 20)
        k = checked_size("k", k)
        if exclude_history_in_beam is None:
            exclude_history_in_beam = getattr(self.cfg, "exclude_history_in_beam", True)
        start = time.perf_counter()
        tree, n_users = self.tree, len(histories)
        if scores is not None and np.shape(scores) != (n_users, tree.n_codes):
            raise ValueError(f"scores must be [{n_users}, {tree.n_codes}], got {np.shape(scores)}")
        hist = self.history_codes(histories) if scores is None else None

        def score(codes: np.ndarray) -> np.ndarray:
            return self.score_nodes(hist, codes) if scores is None else np.take_along_axis(scores, codes, 1)

        watched = HistoryCounts(tree, histories)
        level = tree.start_level(beam)
        candidates = np.tile(tree.nodes_at(level), (n_users, 1))
        n_scored = np.zeros(n_users, dtype=np.int64)
        steps: list[list[TraceStep]] = [[] for _ in range(n_users)]
        while True:
            valid = (candidates >= 0) & tree.valid[np.maximum(candidates, 0)]
            seen = watched(np.where(valid, candidates, -1))
            fully = seen == tree.count[np.maximum(candidates, 0)]
            if exclude_history_in_beam:
                valid &= ~fully  # (a): a fully watched node is never scored
            level_scores = np.where(valid, score(np.where(valid, candidates, 0)), -np.inf)
            n_scored += valid.sum(1)
            if level == tree.depth:
                level_scores[fully] = -np.inf  # history items are never returned (the old rule scores them first)
            order = np.argsort(-level_scores, axis=1, kind="stable")
            if level == tree.depth:
                width = np.full(n_users, k)
            elif exclude_history_in_beam:
                width = _width_to_bth_clean(np.take_along_axis(valid & (seen == 0), order, 1), beam)  # (b)
            else:
                width = np.full(n_users, beam)
            keep = min(int(width.max()), candidates.shape[1])
            order = order[:, :keep]
            kept = np.take_along_axis(candidates, order, 1)
            kept_scores = np.take_along_axis(level_scores, order, 1)
            kept_scores[np.arange(keep)[None, :] >= width[:, None]] = -np.inf  # beyond this user's width
            if trace:
                for u in range(n_users):
                    ok = valid[u]
                    alive = np.isfinite(kept_scores[u])
                    steps[u].append(TraceStep(f"level {level}", level, candidates[u][ok],
                                              level_scores[u][ok].astype(np.float32), kept[u][alive],
                                              info={"parents": tree.parent(candidates[u][ok]), "width": int(width[u])}))
            if level == tree.depth:
                break
            children = tree.children(kept).reshape(n_users, -1)  # children of the kept beam
            alive = np.repeat(np.isfinite(kept_scores), tree.branching, axis=1)
            candidates = np.where(alive, children, -1)
            level += 1
        rows = []
        for u in range(n_users):
            ok = np.isfinite(kept_scores[u])
            rows.append((tree.item_at[kept[u][ok]], kept_scores[u][ok]))
        items, top = pack_ranked(rows, k)
        elapsed = time.perf_counter() - start
        traces = None
        if trace:
            traces = [SearchTrace(self.method, steps[u], items[u], top[u], int(n_scored[u]),
                                  info={"beam": beam, "depth": tree.depth, "start_level": tree.start_level(beam),
                                        "exclude_history_in_beam": bool(exclude_history_in_beam)})
                      for u in range(n_users)]
        return RetrievalResult(items, top, n_scored, traces, extras={"search_seconds": elapsed})

    def brute_force(self, histories, k, users=None, scores: np.ndarray | None = None):
        """Score every leaf (item) with the same model: the ceiling of the beam search. ``scores``: these users'
        :meth:`score_table` (its leaves are these very scores)."""
        start = time.perf_counter()
        leaf_scores = (self._every_item(self.history_codes(histories)) if scores is None
                       else np.ascontiguousarray(scores[:, self.tree.leaf_code]))
        items, top = top_k_excluding(torch.from_numpy(leaf_scores), histories, k)
        return RetrievalResult(items, top, np.full(len(histories), self.n_items),
                               extras={"search_seconds": time.perf_counter() - start})

    def extra_metrics(self, held, k):
        return {"beam": self.cfg.beam, "tree_depth": self.tree.depth, "branching": self.tree.branching,
                "tree_round": self.round_index, "rounds": [r.report for r in self.rounds]}


# ---------------------------------------------------------------------------- training


LENGTH_CHUNKS = 4  # a batch's forward pass in this many parts of similar history length (forward_by_length)


def forward_by_length(model: TDMScorer, history: torch.Tensor, lengths: np.ndarray, nodes: torch.Tensor, pad: int,
                      chunks: int = LENGTH_CHUNKS) -> torch.Tensor:
    """The scorer's logits [S, P] for one batch, computed in ``chunks`` parts of similar history length, each
    trimmed of its all-padding positions (:func:`~recall_core.training.trim_padding`).

    The same logits as one call (tested): the batch is the same random batch, only its forward pass is split,
    so training is unchanged. 40 % of the attention's (sample, position) pairs are padding on ml-100k (the
    issue 13 profile); a random batch's longest history is nearly always full, so a whole-batch trim saves
    nothing, while its quarters by length drop most of the padding. (Batching *samples* by length instead,
    tried first, changed what each batch holds and cost TDM 0.008-0.015 test recall@50 on two seeds.)"""
    order = torch.as_tensor(np.argsort(lengths, kind="stable"), device=history.device)
    parts = [model(trim_padding(history[part], pad), nodes[part]) for part in torch.tensor_split(order, chunks)
             if len(part)]
    logits = torch.empty((len(history), nodes.shape[1]), dtype=parts[0].dtype, device=history.device)
    logits[order] = torch.cat(parts)
    return logits


def _train_on_tree(model: TDMScorer, tree: Tree, split: Split, cfg: TDMConfig, epochs: int, rng, device,
                   progress, label: str) -> TrainLog:
    """Train the scorer on one tree; keep the epoch whose beam search is best on validation users."""
    samples = sliding_window_samples(split)
    n_nodes = [len(tree.nodes_at(l)) for l in range(tree.depth + 1)]
    weight = node_sampling_weights(tree, split.item_counts) if cfg.negative_sampling == "frequency" else None
    sampler = LayerwiseSampler(tree, negatives_per_level(tree.depth, n_nodes, cfg.negative_scale), weight)
    items = samples.histories
    hist_codes = np.where(items == split.pad, tree.n_codes, tree.leaf_code[np.minimum(items, split.n_items - 1)])
    hist_t = torch.as_tensor(hist_codes, device=device)

    lengths = (items != split.pad).sum(1)

    def loss_of_batch(idx: np.ndarray) -> torch.Tensor:
        codes, labels, _ = sampler.sample(samples.targets[idx], rng)
        logits = forward_by_length(model, hist_t[torch.as_tensor(idx, device=device)], lengths[idx],
                                   torch.as_tensor(codes, device=device), tree.n_codes)
        return F.binary_cross_entropy_with_logits(logits, torch.as_tensor(labels, device=device))

    def validate() -> float:
        items = TDM.probe(split, cfg, tree, model, device).retrieve(split.valid.inputs, 50).items
        return ranking_metrics(items, split.valid.truths, (50,))["recall@50"]

    return fit(model, loss_of_batch, len(samples), epochs=epochs, batch_size=cfg.batch_size, lr=cfg.lr, rng=rng,
               validate=validate, progress=progress, label=label, epoch_samples=cfg.epoch_samples)


def _carry_embeddings(old: TDMScorer, old_tree: Tree, new: TDMScorer, new_tree: Tree, inner: str = "mean") -> None:
    """Items keep their learned embedding under their new leaf code; the MLPs are carried over
    unchanged; inner nodes start as the mean of the item embeddings below them (``inner="mean"``,
    for k-means) or keep their learned embedding (``"keep"``, for JTM, whose assignment was
    chosen to fit those nodes)."""
    state = {k: v.clone() for k, v in old.state_dict().items() if k != "embedding.weight"}
    new.load_state_dict(state, strict=False)
    with torch.no_grad():
        item_emb = old.embedding.weight[torch.as_tensor(old_tree.leaf_code)]
        table = old.embedding.weight.detach().clone() if inner == "keep" else torch.zeros_like(new.embedding.weight)
        table[torch.as_tensor(old_tree.leaf_code)] = 0.0
        table[torch.as_tensor(new_tree.leaf_code)] = item_emb
        for level in range(new_tree.depth - 1, -1, -1) if inner == "mean" else ():
            codes = new_tree.nodes_at(level)
            kids = new_tree.children(codes)
            weight = torch.as_tensor(new_tree.count[kids], dtype=table.dtype)
            table[torch.as_tensor(codes)] = (table[torch.as_tensor(kids)] * weight[..., None]).sum(1) / weight.sum(1, keepdim=True)
        new.embedding.weight.copy_(table)


@torch.no_grad()
def jtm_learn_tree(model: TDMScorer, tree: Tree, split: Split, cfg: TDMConfig, rng: np.random.Generator,
                   device) -> tuple[Tree, dict]:
    """JTM's tree learning step (NeurIPS'19 Algorithm 2) with this model as p(n | u).

    log p(n | u) is the model's own estimate, log sigmoid(logit) -- the probability its BCE
    loss trains (Eq. 1 of KDD'18).  ``cfg.jtm_pairs`` training pairs are drawn (uniformly from the
    sliding-window samples) and scored in chunks; history items are looked up by their current
    leaf codes (their embeddings follow them to the new tree).

    Measured on ml-100k (seed 0, quick profile, round-0 model on the genre tree, 5,000 pairs,
    gap 4): the levels a pass optimises gain (levels 1-4: -13.4k -> -11.8k) but the deepest
    inner levels lose more (9-10: -11.3k -> -14.1k): their nodes hold 2-3 items and their learned
    embeddings fit those items, not newcomers.  So L(pi) fell and the input tree was kept; the
    same at gaps 1 and 2."""
    samples = sliding_window_samples(split)
    pick = rng.choice(len(samples), min(cfg.jtm_pairs, len(samples)), replace=False)
    items = samples.histories[pick]
    hist = torch.as_tensor(np.where(items == split.pad, tree.n_codes, tree.leaf_code[np.minimum(items, split.n_items - 1)]),
                           device=device)
    was_training = model.training
    model.eval()

    def log_prob(pairs: np.ndarray, codes: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
        rows = max(1, chunk // max(codes.shape[1], 1))
        out = [F.logsigmoid(model(hist[torch.as_tensor(pairs[i:i + rows], device=device)],
                                  torch.as_tensor(codes[i:i + rows], device=device))).cpu().numpy()
               for i in range(0, len(pairs), rows)]
        return np.concatenate(out).astype(np.float64)

    start = time.perf_counter()
    learned, report = jtm_tree(tree, log_prob, samples.targets[pick], gap=cfg.jtm_gap)
    report["seconds"] = time.perf_counter() - start
    model.train(was_training)
    return learned, report


def learn_tree(model: TDMScorer, tree: Tree, split: Split, cfg: TDMConfig, rng: np.random.Generator, device,
               seed: int) -> tuple[Tree, str, dict]:
    """One tree-learning step by ``cfg.tree_learning``; returns the tree, how to carry inner nodes, a report."""
    if cfg.tree_learning == "jtm":
        learned, report = jtm_learn_tree(model, tree, split, cfg, rng, device)
        return learned, "keep", report
    if cfg.tree_learning != "kmeans":
        raise ValueError(f"tree_learning must be one of {sorted(TREE_LEARNERS)}, not {cfg.tree_learning!r}")
    item_emb = model.embedding.weight[torch.as_tensor(tree.leaf_code)].detach().cpu().numpy()
    return kmeans_tree(item_emb, cfg.branching, seed=seed), "mean", {}


def _kept_epoch_recall(log: dict) -> float | None:
    """The validation beam recall@50 of the epoch ``fit`` kept (the model a round ships), if it validated."""
    valid, best = log.get("valid") or [], log.get("best_epoch", -1)
    return float(valid[best]) if 0 <= best < len(valid) else None


def _round_report(retriever: TDM, split: Split, name: str, beam_recall: float | None = None) -> dict:
    """Beam recall@50 of one round on the validation users (training never looks at test users).
    ``beam_recall``: the beam's figure when training already measured it -- the kept epoch's validation is this
    very search of these weights.  Brute force's figure is added once training has chosen the served round."""
    held = split.valid
    if beam_recall is None:
        beam_recall = ranking_metrics(retriever.retrieve(held.inputs, 50).items, held.truths, (50,))["recall@50"]
    return {"round": retriever.round_index, "tree": name, "valid_recall@50": beam_recall}


def _brute_force_recall(retriever: TDM, split: Split) -> float:
    """Brute force's recall@50 on the validation users: the ceiling of this round's beam search.  It scores every
    item with the attention model, most of a round's report at 10,000 items, so each round gets it once."""
    brute = retriever.brute_force(split.valid.inputs, 50).items
    return ranking_metrics(brute, split.valid.truths, (50,))["recall@50"]


def train_tdm(split: Split, cfg: TDMConfig = TDMConfig(), seed: int = 0, device=torch.device("cpu"),
              progress: Progress | None = None) -> TDM:
    rng = set_seed(seed)
    tree = genre_tree(split.catalogue.main_genre(), cfg.branching, split.item_counts)
    total = cfg.epochs + cfg.tree_rounds * cfg.round_epochs
    done = 0

    def phase_progress(epochs: int):
        def report(fraction: float, message: str) -> None:
            if progress:
                progress((done + fraction * epochs) / max(total, 1), message)
        return report

    model = TDMScorer(tree.n_codes, cfg, split.config.max_len).to(device)
    logs = [_train_on_tree(model, tree, split, cfg, cfg.epochs, rng, device, phase_progress(cfg.epochs),
                           "TDM round 0 (genre tree)").as_dict()]
    done += cfg.epochs
    rounds = [TDMRound(tree, {k: v.detach().cpu().clone() for k, v in model.state_dict().items()})]
    rounds[0].report = _round_report(TDM(split, cfg, rounds, device, round_index=0), split, "genre",
                                     _kept_epoch_recall(logs[0]))
    for r in range(1, cfg.tree_rounds + 1):
        new_tree, inner, learning = learn_tree(model, tree, split, cfg, rng, device, seed + r)
        new_model = TDMScorer(new_tree.n_codes, cfg, split.config.max_len).to(device)
        _carry_embeddings(model, tree, new_model, new_tree, inner)
        before = TDMRound(new_tree, {k: v.detach().cpu().clone() for k, v in new_model.state_dict().items()})
        reclustered = _round_report(TDM(split, cfg, rounds + [before], device, round_index=r), split,
                                    cfg.tree_learning)  # the page shows its beam recall only
        logs.append(_train_on_tree(new_model, new_tree, split, cfg, cfg.round_epochs, rng, device,
                                   phase_progress(cfg.round_epochs), f"TDM round {r} (learned tree)").as_dict())
        done += cfg.round_epochs
        model, tree = new_model, new_tree
        rounds.append(TDMRound(tree, {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}))
        report = _round_report(TDM(split, cfg, rounds, device, round_index=r), split, f"learned {r}",
                               _kept_epoch_recall(logs[-1]))
        report["right_after_reclustering"] = {k: v for k, v in reclustered.items() if "recall" in k}
        report["tree_learning"] = cfg.tree_learning
        report["tree_learning_label"] = TREE_LEARNERS[cfg.tree_learning].replace("gap d", f"gap d = {cfg.jtm_gap}")
        report["tree_learning_report"] = learning
        rounds[-1].report = report
    served = served_round([r.report for r in rounds])
    log = {"phases": logs, "train_seconds": float(sum(sum(p["seconds_per_epoch"]) for p in logs)),
           "rounds": [r.report for r in rounds], "served_round": served}
    final = TDM(split, cfg, rounds, device, log, round_index=served)
    log["budget_curve"] = training_curve(final, split)  # validation users
    for r, rnd in enumerate(rounds):  # the served round's brute force is the curve's exhaustive point
        rnd.report["valid_bruteforce_recall@50"] = (log["budget_curve"][-1]["recall@50"] if r == served
                                                    else _brute_force_recall(final.at_round(r), split))
    return final


def served_round(reports: list[dict]) -> int:
    """The round a trained TDM serves: the best beam recall@50 on validation users, the later round on a tie.
    Tree learning is meant to beat the initial tree (KDD'18 Sec. 3.4), but whether it does on a given catalogue
    and budget is for validation to say: on synthetic-10k the genre tree's round was the best (issue 13 §4)."""
    recalls = [r.get("valid_recall@50", -np.inf) for r in reports]
    return max(range(len(recalls)), key=lambda r: (recalls[r], r))


def training_curve(retriever: TDM, split: Split, k: int = 50) -> list[dict]:
    """The budget curve stored with the model (validation users): beams from 1 while they score no more nodes than
    there are items, then the exhaustive beam, which returns exactly the brute-force top-k
    (tests/test_tdm.py checks it) and is drawn at brute force's cost, n_items evaluations.  Wider beams in
    between cost more than scoring every item once and were most of TDM's training time (issue 13 profile). The
    beams read one :meth:`TDM.score_table` of the validation users (ml-100k: 13 s -> 5 s, one thread)."""
    sizes = beam_sizes(retriever.tree)
    table = retriever.score_table(split.valid.inputs)  # every beam below reads it: no model call per beam
    rows = []
    for beam in sizes[:-1]:
        row = budget_curve(retriever, split.valid, "beam", [beam], k, scores=table)[0]
        if row["scored_per_user"] > retriever.n_items:  # costlier than scoring every item: brute force is the point
            break
        rows.append(row)
    brute = retriever.brute_force(split.valid.inputs, k, scores=table).items
    rows.append({"beam": sizes[-1], "scored_per_user": float(retriever.n_items), "exhaustive": True,
                 f"recall@{k}": ranking_metrics(brute, split.valid.truths, (k,))[f"recall@{k}"]})
    return rows


def tdm_state(retriever: TDM) -> tuple[dict, dict]:
    state, arrays = {}, {}
    for r, rnd in enumerate(retriever.rounds):
        state.update({f"round{r}.{k}": v for k, v in rnd.state.items()})
        arrays[f"round{r}.leaf_code"] = rnd.tree.leaf_code
    return state, arrays


def restore_tdm(split: Split, cfg: TDMConfig, payload: dict, device) -> TDM:
    rounds = []
    for r, report in enumerate(payload["log"].get("rounds", [])):
        prefix = f"round{r}."
        state = {k[len(prefix):]: v for k, v in payload["state"].items() if k.startswith(prefix)}
        leaf_code = payload["arrays"][f"{prefix}leaf_code"]
        tree = Tree(cfg.branching, depth_for(len(leaf_code), cfg.branching), leaf_code)
        rounds.append(TDMRound(tree, state, report))
    return TDM(split, cfg, rounds, device, payload["log"], round_index=payload["log"].get("served_round", -1))


def beam_sizes(tree: Tree) -> list[int]:
    """Beam sizes from 1 to 'full' (every node of the level above the leaves kept: exhaustive)."""
    full = len(tree.nodes_at(tree.depth - 1))
    sizes = [1]
    while sizes[-1] * 2 < full:
        sizes.append(sizes[-1] * 2)
    return sizes + [full]


def training_example(retriever: TDM, target: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The per-level samples the sampler makes for one positive item (codes, labels, levels)."""
    tree = retriever.tree
    n_nodes = [len(tree.nodes_at(l)) for l in range(tree.depth + 1)]
    sampler = LayerwiseSampler(tree, negatives_per_level(tree.depth, n_nodes, retriever.cfg.negative_scale))
    codes, labels, levels = sampler.sample(np.array([target]), np.random.default_rng(seed))
    return codes[0], labels[0], levels
