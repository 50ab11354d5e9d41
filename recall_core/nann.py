"""NANN / 二向箔 (Chen et al., CIKM'22, arXiv 2202.10226): neural scoring over an HNSW graph.

* Scorer, trained free of any index (Sec. 3.1, Fig. 1): (1) a user network: profile
  fields and history statistics as tokens through a small transformer encoder;
  (2) target attention: behaviours and the target through MLPs, scaled
  dot-product attention keyed by the target; (3) an item network: id + genres
  -> e_v; (4) the three concatenated -> MLP -> score.  With ``two_sided`` the
  logit also gets <u, e_v>, u = MLP(mean-pooled history): the paper's simplest
  ("two-sided") member of the scorer family, kept inside the richer one.  Trained
  with sampled negatives (accidental hits of the positive masked) and log-Q
  corrected logits.
* Adversarial robustness (Sec. 3.3): e_v is perturbed by FGSM,
  Delta = eps * sign(grad_{e_v} L), and KL(p_clean || p_perturbed) over the
  positive + negatives is added (the clean side a detached target), so scores stay
  smooth around each e_v, which is what the graph built on e_v relies on.
* Index after training: hnswlib builds an HNSW graph on e_v (l2); its layers are
  read out into numpy (:mod:`recall_core.hnsw_graph`).
* Search (Algorithms 1-2, "beam retrieval"): from the top layer down,
  SEARCH-LAYER expands *all* neighbours of the candidate set C at once, scores
  them in one batch with the model, keeps the top ef_l in W, and the new entries
  of W become C; T_l steps per layer, each layer with its own visited set (as in
  HNSW's Alg. 2); W seeds the next layer; top K of layer 0.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data import Split, history_matrix, sliding_window_samples
from .encoders import ItemFeatures, masked_mean, mlp
from .hnsw_graph import HnswGraph, build_index, classic_search, export_graph
from .protocol import (RetrievalResult, Retriever, budget_curve, checked_size, pack_ranked, ranking_metrics,
                       top_k_excluding)
from .trace import SearchTrace, TraceStep
from .training import Progress, fit, sample_tensors, set_seed

N_LENGTH_BUCKETS = 8
N_YEAR_BUCKETS = 8


NANN_EF0 = [50, 75, 100, 150, 200, 300, 500]  # the budget curve sweeps layer 0's ef ...
CURVE_STEPS = 8  # ... with enough steps T that the width, not T, is what limits the search


@dataclass
class NANNConfig:
    SERVING: ClassVar[tuple[str, ...]] = ("hnsw_M", "hnsw_ef_construction", "ef", "steps")  # graph comes after training
    dim: int = 32
    heads: int = 2
    hidden: tuple[int, ...] = (64, 32)  # the head's MLP, on every (user, candidate) pair: most of an epoch's work
    negatives: int = 25  # per positive, drawn by frequency ** 0.75, log-Q corrected.  Validation recall@50 at the best
    # epoch (seed 0), 100 vs 50 negatives: adversarial 0.384 vs 0.385, plain 0.382 vs 0.390, at half the training
    # time (140 -> 72 s, 62 -> 38 s); then head (128, 64) and 50 negatives vs (64, 32) and 25: adversarial 0.384 vs
    # 0.382, plain 0.385 vs 0.381, an epoch 10-12 s -> 5 s (issue 13; 3 seeds' test figures in README)
    adversarial: bool = True
    two_sided: bool = True  # add the two-sided <u, e_v> (the simplest scorer of Sec. 3.1) to the head's logit;
    # chosen on validation users (seed 0, recall@50 brute force 0.387 vs 0.384 without, graph 0.386 vs 0.378)
    epsilon: float = 0.05  # FGSM step on e_v
    adversarial_weight: float = 1.0
    epochs: int = 6  # a ceiling: stop after `patience` epochs without a better validation figure.  A cosine-decayed lr
    # (training.fit) lost here, valid 0.380 -> 0.376 over 4 epochs (seed 0): this scorer needs its high lr throughout
    patience: int = 2  # seed 0: best at epoch 4 of 6 (adversarial and plain), the next two lower
    batch_size: int = 256
    epoch_samples: int = 100_000  # an epoch is at most this many samples, then validation (training.fit): a
    # no-op on ml-100k (38,551 samples); synthetic-10k (217,348), seed 0, best validation recall@50: whole passes
    # 0.215 (286 s, one thread), 100k 0.215 (174 s), 80k 0.211 (issue 13 §4)
    lr: float = 5e-3
    hnsw_M: int = 16  # paper: M = 32 for millions of items; a sparser graph suits 1.4k items
    hnsw_ef_construction: int = 40  # paper: 40
    ef: tuple[int, ...] = (4, 16, 50)  # ef_l, top layer first; aligned to layer 0 (paper: 100, 200, 400)
    steps: tuple[int, ...] = (1, 1, 4)  # T_l likewise (paper: 1, 1, 3; at T0 = 2 or 3 two of three seeds lost recall)


def history_year_bucket(year_of: torch.Tensor, histories: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The user network's "year" token (Sec. 3.1 (1), a history statistic): the most frequent
    release-year bucket among the user's real behaviours, padding excluded (ties: the lower
    bucket). An empty history gets bucket ``N_YEAR_BUCKETS``, a token of its own."""
    counts = torch.zeros(len(histories), N_YEAR_BUCKETS + 1, device=histories.device)
    counts.scatter_add_(1, year_of[histories], mask.float())
    counts[:, N_YEAR_BUCKETS] = 0.5 * (~mask.any(1)).float()
    return counts.argmax(1)


class NANNScorer(nn.Module):
    def __init__(self, split: Split, cfg: NANNConfig):
        super().__init__()
        d = cfg.dim
        self.pad, self.n_items = split.pad, split.n_items
        self.items = ItemFeatures(split.catalogue.genres, d)  # (3) item network, row n_items = padding
        self.item_mlp = mlp([d, d * 2, d])
        self.behaviour_mlp = mlp([d, d * 2, d])  # (2) keys / values from the behaviours
        self.query_mlp = mlp([d, d * 2, d])  # (2) the query from the target's e_v
        # (1) user network: profile fields (where the release has them) + history statistics as tokens
        self.profile_names = sorted(split.profiles.codes) if split.profiles else []
        self.profile_tables = nn.ModuleDict({n: nn.Embedding(split.profiles.cardinality(n), d)
                                             for n in self.profile_names})
        for n in self.profile_names:
            self.register_buffer(f"codes_{n}", torch.as_tensor(split.profiles.codes[n]))
        self.length_table = nn.Embedding(N_LENGTH_BUCKETS, d)
        self.year_table = nn.Embedding(N_YEAR_BUCKETS + 1, d)
        self.genre_token = nn.Linear(split.catalogue.genres.shape[1], d)
        years = np.nan_to_num(split.catalogue.years, nan=np.nanmedian(split.catalogue.years)
                              if np.isfinite(split.catalogue.years).any() else 0.0)
        edges = np.quantile(years, np.linspace(0, 1, N_YEAR_BUCKETS + 1)[1:-1]) if years.std() > 0 else np.zeros(0)
        self.register_buffer("year_of", torch.as_tensor(np.append(np.searchsorted(edges, years), 0)))
        layer = nn.TransformerEncoderLayer(d, cfg.heads, dim_feedforward=2 * d, dropout=0.0, batch_first=True)
        self.user_encoder = nn.TransformerEncoder(layer, num_layers=1, enable_nested_tensor=False)
        self.head = mlp([3 * d, *cfg.hidden, 1])  # (4)
        self.two_sided = cfg.two_sided
        if cfg.two_sided:  # user tower of the two-sided model: mean-pooled history -> MLP -> u
            self.history_table = nn.Embedding(split.n_items + 1, d, padding_idx=split.pad)
            nn.init.normal_(self.history_table.weight, std=0.05)
            self.user_tower = mlp([d, d * 2, d])

    # ------------------------------------------------------------ branches
    def item_vectors(self, items: torch.Tensor) -> torch.Tensor:
        """e_v, the item network's output (the space the HNSW graph is built on)."""
        return self.item_mlp(self.items(items))

    def user_state(self, histories: torch.Tensor, users: torch.Tensor | None) -> dict:
        """Everything that depends on the user only, computed once per query."""
        mask = histories != self.pad
        emb = self.items(histories)
        keys = self.behaviour_mlp(emb)
        n = mask.sum(1)
        tokens = [self.length_table(torch.clamp(torch.log2(n.float() + 1).long(), max=N_LENGTH_BUCKETS - 1))]
        genres = (self.items.genres[histories] * mask[..., None]).sum(1) / n.clamp(min=1)[:, None]
        tokens.append(self.genre_token(genres))
        tokens.append(self.year_table(history_year_bucket(self.year_of, histories, mask)))
        if users is not None:
            tokens += [self.profile_tables[name](getattr(self, f"codes_{name}")[users]) for name in self.profile_names]
        profile = self.user_encoder(torch.stack(tokens, dim=1)).mean(1)
        state = {"keys": keys, "mask": mask, "profile": profile}
        if self.two_sided:
            state["user_vector"] = self.user_tower(masked_mean(self.history_table(histories), mask))
        return state

    def score(self, state: dict, e_v: torch.Tensor, query: torch.Tensor | None = None) -> torch.Tensor:
        """Scores [B, P] of candidates with item vectors e_v [B, P, d] for the users in ``state``.  ``query``: the
        candidates' attention queries, ``query_mlp(e_v)``, where the caller has them already (they depend on the item
        only: :func:`dense_scores` computes them once for every user)."""
        query = self.query_mlp(e_v) if query is None else query  # [B, P, d]
        logits = torch.bmm(query, state["keys"].transpose(1, 2)) / np.sqrt(query.shape[-1])  # [B, P, L]
        logits = logits.masked_fill(~state["mask"][:, None, :], -1e9)
        attended = torch.bmm(torch.softmax(logits, dim=-1) * state["mask"][:, None, :].any(-1, keepdim=True),
                             state["keys"])
        # the head's first layer on [profile, attended, e_v], split by blocks: the profile's part is the
        # same for every candidate of a user, so it is computed once per user, not once per pair
        first, d = self.head[0], e_v.shape[-1]
        hidden = (F.linear(torch.cat([attended, e_v], dim=-1), first.weight[:, d:])
                  + F.linear(state["profile"], first.weight[:, :d], first.bias)[:, None, :])
        logit = self.head[1:](hidden).squeeze(-1)
        if self.two_sided:  # the two-sided model <u, e_v> as one more term of the logit
            logit = logit + torch.bmm(e_v, state["user_vector"][:, :, None]).squeeze(-1)
        return logit


MASKED_LOGIT = -1e9  # finite "-inf": softmax gives 0, and the KL's 0 * (x - x) stays 0 (not nan)


def candidate_logits(model: NANNScorer, state: dict, e_v: torch.Tensor, candidates: torch.Tensor,
                     log_q: torch.Tensor) -> torch.Tensor:
    """Log-Q corrected logits of [positive, negatives...] (Sec. 3.1's sampled softmax).

    A sampled negative equal to the positive (an "accidental hit") would ask the model to push
    the target down against itself; its logit is masked out, as TensorFlow's
    ``sampled_softmax_loss(remove_accidental_hits=True)`` does."""
    logits = model.score(state, e_v) - log_q[candidates]
    hits = candidates == candidates[:, :1]
    hits[:, 0] = False
    return logits.masked_fill(hits, MASKED_LOGIT)


def adversarial_kl(model: NANNScorer, state: dict, e_v: torch.Tensor, clean_logits: torch.Tensor,
                   loss: torch.Tensor, candidates: torch.Tensor, log_q: torch.Tensor, cfg: NANNConfig) -> torch.Tensor:
    """Sec. 3.3: FGSM on e_v, Delta = eps * sign(grad_{e_v} L), then KL(p_clean || p_perturbed).

    The clean distribution is the target and is detached: the regulariser pulls the perturbed
    scores towards the clean ones, never the clean ones towards the perturbed."""
    grad, = torch.autograd.grad(loss, e_v, retain_graph=True)
    delta = cfg.epsilon * grad.sign()
    adv_logits = candidate_logits(model, state, e_v + delta.detach(), candidates, log_q)
    return F.kl_div(F.log_softmax(adv_logits, dim=-1), F.log_softmax(clean_logits.detach(), dim=-1),
                    log_target=True, reduction="batchmean")


def sampled_softmax_loss(model: NANNScorer, state: dict, candidates: torch.Tensor, log_q: torch.Tensor,
                         cfg: NANNConfig) -> torch.Tensor:
    """Sampled softmax (column 0 = positive) with log-Q correction; plus, when enabled, the
    adversarial KL between the distributions with clean and FGSM-perturbed e_v (Sec. 3.3)."""
    distinct, where = torch.unique(candidates, return_inverse=True)
    # once per distinct item, not once per candidate; gathered as an embedding lookup, whose backward sums the
    # candidates' gradients in a fixed order (plain indexing's backward, index_put_ with accumulation, sums them
    # in thread order on CPU: two threads made NANN's training differ from run to run)
    e_v = F.embedding(where, model.item_vectors(distinct))
    logits = candidate_logits(model, state, e_v, candidates, log_q)
    target = torch.zeros(len(candidates), dtype=torch.long, device=candidates.device)
    loss = F.cross_entropy(logits, target)
    if not cfg.adversarial:
        return loss
    return loss + cfg.adversarial_weight * adversarial_kl(model, state, e_v, logits, loss, candidates, log_q, cfg)


# ---------------------------------------------------------------------------- search


# items per scorer call when scoring every item (dense_scores).  One thread, synthetic-10k's adversarial model, 150
# validation users: 1.33 s in calls of 512 items with every user's item queries recomputed, 0.71 s in calls of 4,096
# with them computed once -- the same scores to the last bit (issue 13)
DENSE_CHUNK = 4096


def dense_scores(model: NANNScorer, state: dict, item_vecs: torch.Tensor, chunk: int = DENSE_CHUNK) -> np.ndarray:
    """The scorer on every item for every user in ``state`` ([U, n_items]), a user and a chunk at a time.  The items'
    attention queries depend on the item only, so they are computed once here, not once per user (the same scores
    up to float rounding, tested)."""
    n_items = len(item_vecs)
    out = np.empty((len(state["mask"]), n_items), dtype=np.float32)
    with torch.no_grad():
        queries = model.query_mlp(item_vecs)
        for u in range(len(out)):
            one = {k: v[u:u + 1] for k, v in state.items()}
            for s in range(0, n_items, chunk):
                out[u, s:s + chunk] = model.score(one, item_vecs[None, s:s + chunk],
                                                  queries[None, s:s + chunk])[0].float().cpu().numpy()
    return out


def layer_schedule(values: tuple[int, ...], n_layers: int) -> list[int]:
    """Per-layer values from the top layer down, aligned so the last value is layer 0's;
    layers above those given reuse the first value."""
    values = list(values)[-n_layers:]
    return [values[0]] * (n_layers - len(values)) + values


def beam_search_layer(graph: HnswGraph, level: int, entry: np.ndarray, entry_scores: np.ndarray, score,
                      ef: int, steps: int, visited: np.ndarray | None = None, record: list | None = None,
                      seen: dict | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """NANN's SEARCH-LAYER (Algorithm 2): T steps of batched expansion of the new entries of W.

    ``visited`` is this layer's visited set, a boolean mask over the graph's nodes that holds the entry points and
    is updated in place; by default it starts as them, as in
    SEARCH-LAYER of HNSW (Malkov & Yashunin, Alg. 2: v <- ep), so a node scored on an upper layer
    but not kept there can still be reached, and expanded, on this one.
    ``seen`` (optional) collects every (id, score) evaluated, so that results can be filtered
    (e.g. a user's history) without letting the filter block the walk through the graph."""
    if visited is None:  # a mask, not a Python set: one lookup for all of a step's neighbours
        visited = np.zeros(graph.n, dtype=bool)
        visited[entry] = True
    order = np.argsort(-entry_scores, kind="stable")[:ef]
    w_ids, w_scores = entry[order], entry_scores[order]
    candidates = w_ids
    spent = 0
    for step in range(steps):
        expanded = candidates
        reached, source = graph.neighbours_of(expanded, level)
        fresh_mask = ~visited[reached]
        fresh, first = np.unique(reached[fresh_mask], return_index=True)
        parents = source[fresh_mask][first]
        if not len(fresh):
            if record is not None:
                record.append((level, step, fresh, np.zeros(0, dtype=np.float32), w_ids.copy(), fresh, expanded, parents))
            break
        visited[fresh] = True
        fresh_scores = score(fresh)
        spent += len(fresh)
        if seen is not None:
            seen.update(zip(fresh.tolist(), fresh_scores.tolist()))
        pool_ids = np.concatenate([w_ids, fresh])
        pool_scores = np.concatenate([w_scores, fresh_scores])
        top = np.argsort(-pool_scores, kind="stable")[:ef]
        new_w = pool_ids[top]
        candidates = new_w[top >= len(w_ids)]  # the new entries of W: those kept from ``fresh`` (none is in W)
        if record is not None:
            record.append((level, step, fresh, fresh_scores.astype(np.float32), new_w.copy(), candidates.copy(),
                           expanded, parents))
        w_ids, w_scores = new_w, pool_scores[top]
        if not len(candidates):
            break
    return w_ids, w_scores, spent


def search_layers(graph: HnswGraph, entry: np.ndarray, entry_scores: np.ndarray, score, efs: list[int],
                  ts: list[int], record: list | None = None,
                  seen: dict | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Algorithm 1 (beam retrieval): SEARCH-LAYER from the top layer down, each layer's W seeding the
    next, with ``efs[i]`` / ``ts[i]`` for the i-th layer from the top. Each layer keeps its own
    visited set (HNSW, Alg. 2). Returns layer 0's W, its scores and the number of evaluations."""
    spent = 0
    for i, level in enumerate(range(graph.max_level, -1, -1)):
        entry, entry_scores, used = beam_search_layer(graph, level, entry, entry_scores, score, efs[i], ts[i],
                                                      None, record, seen)
        spent += used
    return entry, entry_scores, spent


class NANN(Retriever):
    method = "nann"

    def __init__(self, model: NANNScorer, split: Split, cfg: NANNConfig, device=torch.device("cpu"),
                 log: dict | None = None, variant: str = "adversarial"):
        self.model, self.split, self.cfg, self.device, self.log = model.eval(), split, cfg, device, log or {}
        self.n_items = split.n_items
        self.variant = variant
        self.method = "nann" if variant == "adversarial" else "nann_plain"
        with torch.no_grad():
            self.item_vecs_t = model.item_vectors(torch.arange(split.n_items, device=device))
        self.item_vecs = self.item_vecs_t.float().cpu().numpy()
        self.index = build_index(self.item_vecs, "l2", cfg.hnsw_M, cfg.hnsw_ef_construction)
        self.graph = export_graph(self.index)
        # internal hnswlib ids equal item ids (single-threaded insertion in order); checked here
        assert np.array_equal(self.graph.labels, np.arange(split.n_items))

    def _states(self, histories, users):
        h = torch.as_tensor(history_matrix(histories, self.split.config.max_len, self.split.pad), device=self.device)
        u = None if users is None else torch.as_tensor(np.asarray(users), device=self.device)
        with torch.no_grad():
            return self.model.user_state(h, u)

    def _scorer(self, state: dict, row: int, table: np.ndarray | None = None):
        if table is not None:  # the model's scores of this user, computed beforehand (see ``retrieve``)
            return lambda ids: table[row, ids]
        one = {k: v[row:row + 1] for k, v in state.items()}

        def score(ids: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                e_v = self.item_vecs_t[torch.as_tensor(ids, device=self.device)][None]
                return self.model.score(one, e_v)[0].float().cpu().numpy()
        return score

    def retrieve(self, histories, k, trace=False, users=None, ef: tuple[int, ...] | None = None,
                 steps: tuple[int, ...] | None = None, ef0: int | None = None, steps0: int | None = None,
                 scores: np.ndarray | None = None):
        """Beam retrieval over the HNSW layers with the model as the score (Algorithm 1).
        ``ef0`` / ``steps0`` override layer 0's ef and T only (the knobs of the budget curve).
        ``scores`` [U, n_items]: the model's scores of these users, already computed (the brute-force pass
        of :meth:`all_scores`); the walk reads them instead of calling the model -- the same walk, the same
        count of evaluations, without a model call per hop.  The budget curve sweeps several settings
        over the same users this way; ``search_seconds`` then does not include the model."""
        start = time.perf_counter()
        if scores is not None and np.shape(scores) != (len(histories), self.n_items):
            raise ValueError(f"scores must be [{len(histories)}, {self.n_items}], got {np.shape(scores)}")
        state = None if scores is not None else self._states(histories, users)
        n_layers = self.graph.max_level + 1
        efs = layer_schedule(ef or self.cfg.ef, n_layers)
        ts = layer_schedule(steps or self.cfg.steps, n_layers)
        k = checked_size("k", k)
        efs = [checked_size("ef", e, 1, 1 << 20) for e in efs]
        ts = [checked_size("steps", x, 1, 10_000) for x in ts]
        efs[-1] = checked_size("ef0", ef0, 1, 1 << 20) if ef0 is not None else efs[-1]
        ts[-1] = checked_size("steps0", steps0, 1, 10_000) if steps0 is not None else ts[-1]
        efs[-1] = max(efs[-1], k)
        rows, n_scored, traces = [], [], []
        for u, history in enumerate(histories):
            excluded = np.zeros(self.n_items, dtype=bool)
            excluded[np.asarray(history, dtype=np.int64)] = True
            score = self._scorer(state, u, scores)
            entry = np.array([self.graph.entry_point])
            entry_scores = score(entry)
            record = [] if trace else None
            seen = dict(zip(entry.tolist(), entry_scores.tolist()))
            _, _, used = search_layers(self.graph, entry, entry_scores, score, efs, ts, record, seen)
            spent = 1 + used
            # layer 0's W, with the user's history filtered out; scored neighbours fill in for them
            ids = np.fromiter(seen.keys(), dtype=np.int64, count=len(seen))
            values = np.fromiter(seen.values(), dtype=np.float64, count=len(seen))
            allowed = ~excluded[ids]
            ids, values = ids[allowed], values[allowed]
            top = np.argsort(-values, kind="stable")[:k]
            rows.append((ids[top], values[top].astype(np.float32)))
            n_scored.append(spent)
            if trace:
                traces.append(record)
        items, scores = pack_ranked(rows, k)
        elapsed = time.perf_counter() - start
        out = None
        if trace:
            out = [self._trace(rec, items[u], scores[u], n_scored[u], efs, ts) for u, rec in enumerate(traces)]
        return RetrievalResult(items, scores, np.array(n_scored), out, extras={"search_seconds": elapsed})

    def _trace(self, record, items, scores, n_scored, efs, ts) -> SearchTrace:
        steps = [TraceStep(f"layer {level} · step {step + 1}", level, fresh, fresh_scores, w,
                           info={"new_in_w": c, "expanded": expanded, "parents": parents})
                 for level, step, fresh, fresh_scores, w, c, expanded, parents in record]
        return SearchTrace(self.method, steps, items, scores, int(n_scored),
                           info={"entry_point": int(self.graph.entry_point), "ef": efs, "steps": ts,
                                 "max_level": int(self.graph.max_level)})

    def brute_force(self, histories, k, users=None):
        start = time.perf_counter()
        items, top = top_k_excluding(torch.from_numpy(self.score_table(histories, users)), histories, k)
        return RetrievalResult(items, top, np.full(len(histories), self.n_items),
                               extras={"search_seconds": time.perf_counter() - start})

    def score_table(self, histories, users=None) -> np.ndarray:
        """The scorer on every item for these users ([U, n_items]): brute force's scores, which ``retrieve`` and
        ``hnsw_rule`` can also walk on (their ``scores``)."""
        return self.all_scores(self._states(histories, users))

    def all_scores(self, state: dict, chunk: int = DENSE_CHUNK) -> np.ndarray:
        """The scorer on every item for every user in ``state`` ([U, n_items])."""
        return dense_scores(self.model, state, self.item_vecs_t, chunk)

    def hnsw_rule(self, histories, k, users=None, ef: int = 64, scores: np.ndarray | None = None):
        """The original HNSW search rule (greedy descent, best-first SEARCH-LAYER, no step limit)
        driven by the same neural score: the "NANN-HNSW" comparison.  ``scores``: as in :meth:`retrieve`."""
        state = None if scores is not None else self._states(histories, users)
        rows, spent = [], []
        for u, history in enumerate(histories):
            excluded = np.zeros(self.n_items, dtype=bool)
            excluded[np.asarray(history, dtype=np.int64)] = True
            ids, found, n = classic_search(self.graph, self._scorer(state, u, scores), k, max(ef, k), excluded)
            rows.append((ids, found))
            spent.append(n)
        items, top = pack_ranked(rows, k)
        return RetrievalResult(items, top, np.array(spent))

    def extra_metrics(self, held, k):
        # one model pass over every item for these users; the two graph walks below read its scores
        table = self.score_table(held.inputs, held.users)
        brute, _ = top_k_excluding(torch.from_numpy(table), held.inputs, k)
        graph = self.retrieve(held.inputs, k, users=held.users, scores=table).items
        overlap = np.mean([len(set(g[g >= 0]) & set(b[b >= 0])) / max((b >= 0).sum(), 1) for g, b in zip(graph, brute)])
        rule = self.hnsw_rule(held.inputs, k, users=held.users, scores=table)
        return {"variant": self.variant, "ef": list(self.cfg.ef), "steps": list(self.cfg.steps),
                "graph_layers": int(self.graph.max_level + 1),
                f"recall_vs_bruteforce@{k}": float(overlap),
                f"hnsw_rule_recall@{k}": ranking_metrics(rule.items, held.truths, (k,))[f"recall@{k}"],
                "hnsw_rule_scored_per_user": float(rule.n_scored.mean())}


# ---------------------------------------------------------------------------- training


def train_nann(split: Split, cfg: NANNConfig = NANNConfig(), seed: int = 0, device=torch.device("cpu"),
               progress: Progress | None = None) -> NANN:
    rng = set_seed(seed)
    samples = sliding_window_samples(split)
    model = NANNScorer(split, cfg).to(device)
    hist, users, targets = sample_tensors(samples, device)
    weight = (np.bincount(samples.targets, minlength=split.n_items) + 1.0) ** 0.75
    q = weight / weight.sum()
    log_q = torch.as_tensor(np.log(q * cfg.negatives), dtype=torch.float32, device=device)
    sampler = torch.distributions.Categorical(probs=torch.as_tensor(q, dtype=torch.float32))
    use_profiles = split.profiles is not None

    def loss_of_batch(idx: np.ndarray) -> torch.Tensor:
        i = torch.as_tensor(idx, device=device)
        state = model.user_state(hist[i], users[i] if use_profiles else None)
        negatives = sampler.sample((len(idx), cfg.negatives)).to(device)
        candidates = torch.cat([targets[i][:, None], negatives], dim=1)
        return sampled_softmax_loss(model, state, candidates, log_q, cfg)

    def validate() -> float:
        valid = split.valid
        h = torch.as_tensor(history_matrix(valid.inputs, split.config.max_len, split.pad), device=device)
        state = model.user_state(h, torch.as_tensor(valid.users, device=device) if use_profiles else None)
        e_v = model.item_vectors(torch.arange(split.n_items, device=device))
        items, _ = top_k_excluding(torch.from_numpy(dense_scores(model, state, e_v)), valid.inputs, 50)
        model.train()
        return ranking_metrics(items, valid.truths, (50,))["recall@50"]

    log = fit(model, loss_of_batch, len(samples), epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, rng=rng,
              validate=validate, progress=progress, patience=cfg.patience, epoch_samples=cfg.epoch_samples,
              label="NANN" + (" (adversarial)" if cfg.adversarial else ""))
    final = NANN(model, split, cfg, device, log.as_dict(), "adversarial" if cfg.adversarial else "plain")
    valid = split.valid
    table = final.score_table(valid.inputs, valid.users)  # one model pass over every valid item
    # the budget curve walks the graph on these scores: its seven settings cost no further model call
    final.log["budget_curve"] = [dict(row, steps0=CURVE_STEPS) for row in budget_curve(  # validation users
        final, valid, "ef0", NANN_EF0, steps0=CURVE_STEPS, scores=table)]
    brute, _ = top_k_excluding(torch.from_numpy(table), valid.inputs, 50)
    final.log["bruteforce_recall@50"] = ranking_metrics(brute, valid.truths, (50,))["recall@50"]
    return final


@dataclass
class NANNPlainConfig(NANNConfig):
    """The same scorer trained without the adversarial term (the paper's Table 3 ablation)."""

    adversarial: bool = False


def nann_state(retriever: NANN) -> tuple[dict, dict]:
    return retriever.model.state_dict(), {}


def restore_nann(split: Split, cfg: NANNConfig, payload: dict, device) -> NANN:
    model = NANNScorer(split, cfg)
    model.load_state_dict(payload["state"])
    return NANN(model.to(device), split, cfg, device, payload["log"], "adversarial" if cfg.adversarial else "plain")


def hops_from(graph: HnswGraph, sources: np.ndarray, targets: np.ndarray, level: int = 0, limit: int = 8) -> dict:
    """Breadth-first hop distance on one layer from a set of nodes to each target (None beyond ``limit``)."""
    want = set(np.asarray(targets).tolist())
    found: dict[int, int | None] = {t: 0 for t in want & set(np.asarray(sources).tolist())}
    seen = set(np.asarray(sources).tolist())
    frontier = list(seen)
    for hop in range(1, limit + 1):
        if len(found) == len(want) or not frontier:
            break
        nxt = []
        for node in frontier:
            for n in graph.neighbours(node, level).tolist():
                if n not in seen:
                    seen.add(n)
                    nxt.append(n)
                    if n in want and n not in found:
                        found[n] = hop
        frontier = nxt
    return {t: found.get(t) for t in want}


def graph_misses(graph: HnswGraph, trace: SearchTrace, brute_items: np.ndarray) -> tuple[np.ndarray, dict]:
    """Items of the brute-force top-K that the graph search did not return, and why: "scored" when the
    search scored it but did not keep it, else its hop distance on layer 0 from the scored set
    (None beyond 8 hops)."""
    returned = trace.items
    missed = np.setdiff1d(brute_items[brute_items >= 0], returned)
    scored = set(np.concatenate([s.scored for s in trace.steps]).tolist()) | {trace.info["entry_point"]}
    hops = hops_from(graph, np.array(sorted(scored)), missed)
    return missed, {m: ("scored" if m in scored else hops[m]) for m in missed.tolist()}
