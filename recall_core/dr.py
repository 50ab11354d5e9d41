"""Deep Retrieval (Gao et al., CIKM'21, arXiv 2007.07203): learnable discrete paths.

* Structure (Sec. 3.1): D layers of K nodes; a path c = (c_1..c_D) is one of K^D
  clusters.  Layer d is an MLP + K-way softmax on [x, emb(c_1), .., emb(c_{d-1})],
  so p(c | x) = prod_d p(c_d | x, c_<d).  Each item sits on J paths (pi).
* User encoder x (``DRConfig.encoder``): "gru", as in the paper's experiments (a GRU
  over the user's behaviour sequence), its final hidden state + MLP; or "mean" (the
  default), the shared masked mean pooling of the history embeddings + MLP.  On
  ml-100k validation (seed 0) the GRU gave the same beam recall@50 (B = 5: 0.375
  vs 0.375; B = 10: 0.383 vs 0.384) at about 38 times the CPU cost per batch, so
  mean pooling stays the default; a GRU reranker was worse (0.377 vs 0.387).
* θ step (the paper's "E step", Sec. 3.2): maximise
  Q_str = sum_i log sum_j p(pi_j(y_i) | x_i) by gradient descent with pi fixed.
* π step (the paper's "M step", Sec. 3.3-3.4): for each item v, candidate paths
  found by beam search, s[v, c] = sum over v's training users of p(c | x_i); then
  greedy coordinate descent on N_v log sum_j s[v, pi_j(v)] - alpha sum_c f(|c|),
  f(|c|) = |c|^4 / 4, whose gain for adding c is
  N_v [log(S_prev + s[v, c]) - log S_prev] - alpha [f(|c|+1) - f(|c|)].
* Rerank (Sec. 3.5): a softmax model over all items scores the items of the
  retrieved paths.  Like the paper's reranker it is a model of its own (own
  history embeddings and encoder, ``Reranker``), trained first with its own
  learning rate and its best validation epoch kept; the structure model is then
  trained by EM, its history embeddings starting from the reranker's.
* Serving: beam search keeps the top B of the B*K successors per layer, then the
  items of the B paths are reranked.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from .data import Split, history_matrix, sliding_window_samples
from .encoders import GRUEncoder, masked_mean, mlp
from .protocol import (RetrievalResult, Retriever, budget_curve, checked_size, pack_ranked, ranking_metrics,
                       top_k_excluding)
from .trace import SearchTrace, TraceStep
from .training import Progress, fit, sample_tensors, set_seed

EPS = 1e-12
DR_BEAMS = [1, 2, 5, 10, 25, 50, 100, 200]
ENCODERS = ("mean", "gru")


@dataclass
class DRConfig:
    SERVING: ClassVar[tuple[str, ...]] = ("beam",)  # search-time only
    depth: int = 3  # D (paper: 3)
    width: int = 10  # K (paper: 50 for MovieLens-20M's 27k items; 10^3 paths here for 1.4k items)
    paths_per_item: int = 3  # J (paper: 3)
    beam: int = 8  # B at serving (paper: 25 for 27k items); the smallest B within 0.005 of the validation ceiling on each of 3 seeds
    alpha: float = 1e-2  # penalty weight (paper: 3e-5 at MovieLens-20M scale; see README)
    candidates: int = 10  # S: paths kept per training sample by beam search in the π step
    sweeps: int = 3  # greedy coordinate-descent sweeps over the items
    dim: int = 64
    code_dim: int = 16
    hidden: int = 128
    rerank_negatives: int = 0  # 0: the full softmax over all items (cheap at 1.4k items); > 0: sampled softmax
    rerank_encoder: str = "mean"  # the reranker's own history encoder ("mean" or "gru")
    rerank_epochs: int = 10  # a ceiling: the best validation epoch is kept; ml-100k: best at 6-8 (seeds 0-2)
    rerank_patience: int = 2  # stop after 2 epochs without a better one: ml-100k keeps the same epochs; synthetic-10k
    # peaked at epoch 3 and its 6 later epochs (16 s each) only fell (issue 13)
    rerank_lr: float = 5e-3  # validation recall@50: 2e-3 0.378 (10 ep), 5e-3 0.387, 1e-2 0.381
    rerank_weight_decay: float = 0.0
    rerank_temperature: float = 0.0  # 0: <u, e_v> + b_v; > 0: cos(u, e_v) / temperature + b_v
    warm_start: bool = True  # the structure model's history embeddings start from the trained reranker's
    em_rounds: int = 3  # π steps; θ is trained before each and after the last
    epochs: int = 4  # first θ step
    round_epochs: int = 3  # each later θ step
    batch_size: int = 512
    epoch_samples: int = 100_000  # an epoch is at most this many samples, then validation (training.fit), for the
    # reranker and the θ steps: a no-op on ml-100k (38,551 samples); synthetic-10k (217,348), seed 0, the
    # reranker's best validation recall@50: whole passes 0.177 (276 s, one thread), 100k 0.172 (187 s), 80k 0.168
    lr: float = 1e-2
    encoder: str = "mean"  # "mean": masked mean pooling; "gru": the paper's GRU (see the module docstring)


def penalty(size: np.ndarray | float) -> np.ndarray | float:
    """f(|c|) = |c|^4 / 4 (Sec. 3.4)."""
    return np.asarray(size, dtype=np.float64) ** 4 / 4.0


class HistoryEncoder(nn.Module):
    """Left-padded history [B, L] -> [B, dim]: item embeddings, a GRU's final state or the masked
    mean, then an MLP."""

    def __init__(self, split: Split, kind: str, dim: int, hidden: int, last_activation: bool):
        super().__init__()
        if kind not in ENCODERS:
            raise ValueError(f"DR encoder must be one of {ENCODERS}, got {kind!r}")
        self.pad = split.pad
        self.history = nn.Embedding(split.n_items + 1, dim, padding_idx=split.pad)
        nn.init.normal_(self.history.weight, std=0.05)
        self.gru = GRUEncoder(dim, dim) if kind == "gru" else None
        self.user = mlp([dim, hidden, dim], last_activation=last_activation)

    def forward(self, histories: torch.Tensor) -> torch.Tensor:
        values, mask = self.history(histories), histories != self.pad
        return self.user(self.gru(values, mask) if self.gru is not None else masked_mean(values, mask))


class Reranker(nn.Module):
    """The rerank model (Sec. 3.5): score(u, v) = <u(history), e_v> + b_v (or with unit vectors over a
    temperature), a softmax over all items."""

    def __init__(self, split: Split, cfg: DRConfig):
        super().__init__()
        self.encoder = HistoryEncoder(split, cfg.rerank_encoder, cfg.dim, cfg.hidden, last_activation=False)
        self.items = nn.Embedding(split.n_items, cfg.dim)
        self.bias = nn.Parameter(torch.zeros(split.n_items))
        nn.init.normal_(self.items.weight, std=0.05)
        self.temperature = cfg.rerank_temperature

    def forward(self, histories: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        """Scores [B, n_items] of every item, or [B, C] of the given candidate items [B, C]."""
        u = self.encoder(histories)
        e = self.items.weight if items is None else self.items(items)
        if self.temperature > 0:
            u, e = F.normalize(u, dim=-1) / self.temperature, F.normalize(e, dim=-1)
        if items is None:
            return u @ e.T + self.bias
        return (u[:, None, :] * e).sum(-1) + self.bias[items]

    def loss(self, histories: torch.Tensor, targets: torch.Tensor, negatives: int) -> torch.Tensor:
        """Softmax cross-entropy of the next item: full (negatives = 0) or sampled with uniform negatives."""
        if not negatives:
            return F.cross_entropy(self(histories), targets)
        sampled = torch.randint(0, len(self.bias), (len(targets), negatives), device=targets.device)
        logits = self(histories, torch.cat([targets[:, None], sampled], dim=1))
        logits[:, 1:] = logits[:, 1:].masked_fill(sampled == targets[:, None], -torch.inf)
        return F.cross_entropy(logits, torch.zeros(len(targets), dtype=torch.long, device=targets.device))


class DRModel(nn.Module):
    def __init__(self, split: Split, cfg: DRConfig):
        super().__init__()
        self.cfg, self.pad = cfg, split.pad
        self.history = nn.Embedding(split.n_items + 1, cfg.dim, padding_idx=split.pad)
        nn.init.normal_(self.history.weight, std=0.05)
        if cfg.encoder not in ENCODERS:
            raise ValueError(f"DR encoder must be one of {ENCODERS}, got {cfg.encoder!r}")
        self.encoder = HistoryEncoder(split, cfg.encoder, cfg.dim, cfg.hidden, last_activation=True)
        self.codes = nn.ModuleList(nn.Embedding(cfg.width, cfg.code_dim) for _ in range(cfg.depth - 1))
        self.layers = nn.ModuleList(mlp([cfg.dim + d * cfg.code_dim, cfg.hidden, cfg.width]) for d in range(cfg.depth))
        self.reranker = Reranker(split, cfg)

    def encode(self, histories: torch.Tensor) -> torch.Tensor:
        """x: the user's left-padded history [B, L] -> [B, dim], the structure model's input."""
        return self.encoder(histories)

    def layer_log_probs(self, x: torch.Tensor, prefix: torch.Tensor) -> torch.Tensor:
        """log p(c_d | x, c_<d) for all K values of c_d; prefix [..., d] -> [..., K]."""
        d = prefix.shape[-1]
        parts = [x.expand(*prefix.shape[:-1], x.shape[-1])]
        parts += [self.codes[j](prefix[..., j]) for j in range(d)]
        return F.log_softmax(self.layers[d](torch.cat(parts, dim=-1)), dim=-1)

    def path_log_prob(self, x: torch.Tensor, paths: torch.Tensor) -> torch.Tensor:
        """log p(c | x) of paths [B, J, D] (teacher forcing through the layers) -> [B, J]."""
        xj = x[:, None, :]
        total = 0.0
        for d in range(self.cfg.depth):
            logp = self.layer_log_probs(xj, paths[..., :d])
            total = total + logp.gather(-1, paths[..., d:d + 1]).squeeze(-1)
        return total

    def all_path_log_probs(self, x: torch.Tensor) -> torch.Tensor:
        """[B, K^D] log-probabilities of every path, codes in lexicographic order (small lattices)."""
        K, D = self.cfg.width, self.cfg.depth
        grid = torch.cartesian_prod(*[torch.arange(K)] * D).reshape(1, K ** D, D) if D > 1 else \
            torch.arange(K).reshape(1, K, 1)
        return self.path_log_prob(x, grid.expand(len(x), -1, -1).to(x.device))



def beam_search_paths(model: DRModel, x: torch.Tensor, beam: int, record: bool = False):
    """Top-``beam`` paths per user by p(c|x), layer by layer (Sec. 3.5).

    Returns paths [U, B', D], their log-probabilities [U, B'], the number of node
    probabilities computed per user, and (if ``record``) the per-layer candidates.
    """
    K, D = model.cfg.width, model.cfg.depth
    U = len(x)
    prefixes = torch.zeros(U, 1, 0, dtype=torch.long, device=x.device)
    logp = torch.zeros(U, 1, device=x.device)
    evaluated, layers = 0, []
    for d in range(D):
        step = model.layer_log_probs(x[:, None, :], prefixes)  # [U, b, K]
        evaluated += step.shape[1] * K
        total = (logp[:, :, None] + step).reshape(U, -1)  # [U, b*K]
        keep = min(beam, total.shape[1])
        top, idx = torch.topk(total, keep, dim=1)
        parent, code = idx // K, idx % K
        candidates = torch.cat([prefixes.repeat_interleave(K, dim=1),
                                torch.arange(K, device=x.device).repeat(prefixes.shape[1])[None, :, None]
                                .expand(U, -1, 1)], dim=2)
        if record:
            layers.append((candidates, total, idx))
        prefixes = torch.cat([prefixes.gather(1, parent[..., None].expand(-1, -1, d)), code[..., None]], dim=2)
        logp = top
    return prefixes, logp, evaluated, layers


def path_ids(paths: np.ndarray, width: int) -> np.ndarray:
    """Integer id of each path (c_1..c_D read as base-K digits)."""
    paths = np.asarray(paths, dtype=np.int64)
    return (paths * (width ** np.arange(paths.shape[-1] - 1, -1, -1))).sum(-1)


def path_codes(ids: np.ndarray, width: int, depth: int) -> np.ndarray:
    ids = np.asarray(ids, dtype=np.int64)
    return np.stack([(ids // width ** (depth - 1 - d)) % width for d in range(depth)], axis=-1)


# ---------------------------------------------------------------------------- π step


@dataclass
class PathCandidates:
    """s[v, c] for the candidate paths of every item (a sparse table) and N_v."""

    items: np.ndarray  # [n]
    paths: np.ndarray  # [n] path ids
    scores: np.ndarray  # [n] s[v, c] = sum of p(c | x_i) over v's training samples
    counts: np.ndarray  # [n_items] N_v

    def of_item(self, n_items: int) -> list[tuple[np.ndarray, np.ndarray]]:
        order = np.lexsort((-self.scores, self.items))
        bounds = np.searchsorted(self.items[order], np.arange(n_items + 1))
        return [(self.paths[order[a:b]], self.scores[order[a:b]]) for a, b in zip(bounds[:-1], bounds[1:])]


def path_candidates(model: DRModel, histories: torch.Tensor, targets: np.ndarray, n_items: int, per_sample: int,
                    per_item: int = 32, batch: int = 2048) -> PathCandidates:
    """Beam search (beam S) for every training sample; sum the probabilities per (item, path)."""
    keys, values = [], []
    with torch.no_grad():
        for start in range(0, len(targets), batch):
            x = model.encode(histories[start:start + batch])
            paths, logp, _, _ = beam_search_paths(model, x, per_sample)
            ids = path_ids(paths.cpu().numpy(), model.cfg.width)
            keys.append(np.repeat(targets[start:start + batch], ids.shape[1]) * (model.cfg.width ** model.cfg.depth)
                        + ids.ravel())
            values.append(logp.exp().cpu().numpy().ravel())
    table = pd.Series(np.concatenate(values)).groupby(np.concatenate(keys)).sum()
    n_paths = model.cfg.width ** model.cfg.depth
    frame = pd.DataFrame({"item": table.index.to_numpy() // n_paths, "path": table.index.to_numpy() % n_paths,
                          "s": table.to_numpy()})
    frame = frame.sort_values(["item", "s"], ascending=[True, False]).groupby("item").head(per_item)
    return PathCandidates(frame["item"].to_numpy(), frame["path"].to_numpy(), frame["s"].to_numpy(),
                          np.bincount(targets, minlength=n_items))


def item_objective(n_v: float, s_of: dict, paths: list[int], sizes: np.ndarray, alpha: float) -> float:
    """Item v's part of the penalised objective, with ``sizes`` excluding v itself:
    N_v log(eps + sum_j s[v, c_j]) - alpha sum_j [f(|c_j| + 1) - f(|c_j|)]."""
    total = sum(s_of.get(c, 0.0) for c in paths)
    cost = sum(penalty(sizes[c] + 1) - penalty(sizes[c]) for c in paths)
    return float(n_v * np.log(EPS + total) - alpha * cost)


def path_gain(n_v: float, prev: float, s: np.ndarray, sizes: np.ndarray, alpha: float) -> np.ndarray:
    """Gain of adding each candidate path c to item v's chosen ones (Sec. 3.4, the greedy step):
    N_v [log(eps + S_prev + s[v, c]) - log(eps + S_prev)] - alpha [f(|c| + 1) - f(|c|)],
    with S_prev the score sum of the paths already chosen and |c| the path's size without v."""
    likelihood = n_v * (np.log(EPS + prev + s) - np.log(EPS + prev))
    return likelihood - alpha * (penalty(sizes + 1) - penalty(sizes))


def greedy_paths(n_v: float, cand_paths: np.ndarray, cand_scores: np.ndarray, sizes: np.ndarray, J: int,
                 alpha: float) -> list[int]:
    """Pick J distinct paths one at a time by the largest :func:`path_gain` (the paper's greedy step)."""
    chosen: list[int] = []
    prev = 0.0
    taken = np.zeros(len(cand_paths), dtype=bool)  # the candidates are distinct paths: mask the chosen ones
    path_sizes = sizes[cand_paths]
    for _ in range(J):
        gain = path_gain(n_v, prev, cand_scores, path_sizes, alpha)
        gain[taken] = -np.inf
        best = int(np.argmax(gain))
        taken[best] = True
        chosen.append(int(cand_paths[best]))
        prev += float(cand_scores[best])
    return chosen


def assign_paths(cands: PathCandidates, current: np.ndarray, n_paths: int, alpha: float, sweeps: int,
                 rng: np.random.Generator, on_step=None) -> np.ndarray:
    """Coordinate descent over items: each item's J paths are re-chosen greedily given the
    others; a new choice replaces the old only if it does not lower the objective."""
    pi = current.copy()
    J = pi.shape[1]
    sizes = np.bincount(pi.ravel(), minlength=n_paths).astype(np.float64)
    per_item = cands.of_item(len(pi))
    for _ in range(sweeps):
        for v in rng.permutation(len(pi)):
            paths, scores = per_item[v]
            # the current paths are always candidates; a few random ones let unseen items spread out
            extra = set(pi[v].tolist()) | set(rng.integers(0, n_paths, size=J).tolist())
            extra = np.array(sorted(extra - set(paths.tolist())), dtype=paths.dtype)
            cand_paths = np.concatenate([paths, extra])
            cand_scores = np.concatenate([scores, np.zeros(len(cand_paths) - len(paths))])
            sizes[pi[v]] -= 1
            s_of = dict(zip(cand_paths.tolist(), cand_scores.tolist()))
            n_v = float(cands.counts[v])
            new = greedy_paths(n_v, cand_paths, cand_scores, sizes, J, alpha)
            old_value = item_objective(n_v, s_of, pi[v].tolist(), sizes, alpha)
            new_value = item_objective(n_v, s_of, new, sizes, alpha)
            if new_value >= old_value:
                pi[v] = new
            sizes[pi[v]] += 1
            if on_step is not None:
                on_step(v, old_value, max(new_value, old_value))
    return pi


def total_objective(cands: PathCandidates, pi: np.ndarray, n_paths: int, alpha: float) -> float:
    """sum_v N_v log(eps + sum_j s[v, pi_j(v)]) - alpha sum_c f(|c|)."""
    lookup = dict(zip((cands.items * n_paths + cands.paths).tolist(), cands.scores.tolist()))
    value = 0.0
    for v, paths in enumerate(pi):
        value += cands.counts[v] * np.log(EPS + sum(lookup.get(v * n_paths + int(c), 0.0) for c in paths))
    sizes = np.bincount(pi.ravel(), minlength=n_paths)
    return float(value - alpha * penalty(sizes).sum())


def path_size_stats(pi: np.ndarray, n_paths: int) -> dict:
    """Non-empty paths, largest path, Gini and entropy of the item-per-path distribution."""
    sizes = np.bincount(pi.ravel(), minlength=n_paths)
    used = np.sort(sizes[sizes > 0])
    n = len(used)
    gini = float((2 * np.arange(1, n + 1) - n - 1).dot(used) / (n * used.sum())) if n else 0.0
    p = used / used.sum()
    return {"non_empty_paths": int(n), "largest_path": int(used.max()), "mean_path": float(used.mean()),
            "gini": gini, "entropy_bits": float(-(p * np.log2(p)).sum())}


# ---------------------------------------------------------------------------- retriever


class DeepRetrieval(Retriever):
    method = "dr"

    def __init__(self, model: DRModel, split: Split, cfg: DRConfig, pi: np.ndarray, device=torch.device("cpu"),
                 log: dict | None = None, candidates: PathCandidates | None = None):
        self.model, self.split, self.cfg, self.device, self.log = model.eval(), split, cfg, device, log or {}
        self.n_items = split.n_items
        self.candidates = candidates
        self.rerun_paths: dict[float, np.ndarray] = {}  # rerun_path_step's results made at training time
        self.set_paths(pi)

    def set_paths(self, pi: np.ndarray) -> None:
        self.pi = np.asarray(pi, dtype=np.int64)
        self.n_paths = self.cfg.width ** self.cfg.depth
        flat = self.pi.ravel()
        order = np.argsort(flat, kind="stable")
        self.path_items = np.repeat(np.arange(self.n_items), self.pi.shape[1])[order]
        self.path_start = np.searchsorted(flat[order], np.arange(self.n_paths + 1))

    def items_on(self, path_id: int) -> np.ndarray:
        return self.path_items[self.path_start[path_id]:self.path_start[path_id + 1]]

    def history_tensor(self, histories) -> torch.Tensor:
        return torch.as_tensor(history_matrix(histories, self.split.config.max_len, self.split.pad), device=self.device)

    def encode(self, histories) -> torch.Tensor:
        with torch.no_grad():
            return self.model.encode(self.history_tensor(histories))

    def retrieve(self, histories, k, trace=False, users=None, beam: int | None = None):
        beam = checked_size("beam", beam if beam is not None else self.cfg.beam, 1, 1 << 20)
        k = checked_size("k", k)
        start = time.perf_counter()
        h = self.history_tensor(histories)
        with torch.no_grad():
            paths, logp, evaluated, layers = beam_search_paths(self.model, self.model.encode(h), beam, record=trace)
            rerank_all = self.model.reranker(h)  # only the collected items' scores are used (and counted)
        path_id = path_ids(paths.cpu().numpy(), self.cfg.width)
        rows, n_scored, collected_per_user = [], [], []
        for u, h in enumerate(histories):
            items = np.unique(np.concatenate([self.items_on(p) for p in path_id[u]]))
            items = items[~np.isin(items, h)]
            scores = rerank_all[u, torch.as_tensor(items, device=self.device)].cpu().numpy()
            order = np.argsort(-scores, kind="stable")
            rows.append((items[order], scores[order]))
            collected_per_user.append(items)
            n_scored.append(evaluated + len(items))
        ranked_items, ranked_scores = pack_ranked(rows, k)
        elapsed = time.perf_counter() - start
        traces = self._traces(layers, paths, logp, path_id, rows, ranked_items, ranked_scores, n_scored, beam) \
            if trace else None
        return RetrievalResult(ranked_items, ranked_scores, np.array(n_scored), traces,
                               extras={"search_seconds": elapsed})

    def _traces(self, layers, paths, logp, path_id, rows, items, scores, n_scored, beam) -> list[SearchTrace]:
        K = self.cfg.width
        out = []
        for u in range(len(rows)):
            steps = []
            for d, (cands, total, idx) in enumerate(layers):
                prefix_ids = path_ids(cands[u].cpu().numpy(), K)
                kept = prefix_ids[idx[u].cpu().numpy()]
                steps.append(TraceStep(f"layer {d + 1}", d + 1, prefix_ids, total[u].exp().cpu().numpy().astype(np.float32),
                                       kept, info={"prefixes": cands[u].cpu().numpy()}))
            collected, rerank = rows[u]
            steps.append(TraceStep("rerank", self.cfg.depth + 1, collected, rerank.astype(np.float32), items[u][items[u] >= 0],
                                   info={"paths": paths[u].cpu().numpy(), "path_probs": logp[u].exp().cpu().numpy()}))
            out.append(SearchTrace(self.method, steps, items[u], scores[u], int(n_scored[u]),
                                   info={"beam": beam, "path_ids": path_id[u]}))
        return out

    def brute_force(self, histories, k, users=None):
        """The rerank model over all items (the paper's 'brute force' comparison)."""
        start = time.perf_counter()
        with torch.no_grad():
            scores = self.model.reranker(self.history_tensor(histories))
        items, top = top_k_excluding(scores, histories, k)
        return RetrievalResult(items, top, np.full(len(histories), self.n_items),
                               extras={"search_seconds": time.perf_counter() - start})

    def extra_metrics(self, held, k):
        stats = path_size_stats(self.pi, self.n_paths)
        return {"beam": self.cfg.beam, "K": self.cfg.width, "D": self.cfg.depth, "J": self.cfg.paths_per_item,
                "alpha": self.cfg.alpha, **{f"paths_{k_}": v for k_, v in stats.items()}}


# ---------------------------------------------------------------------------- training


def recall_at_50(items: np.ndarray, held) -> float:
    return ranking_metrics(items, held.truths, (50,))["recall@50"]


def train_reranker(model: DRModel, split: Split, cfg: DRConfig, hist: torch.Tensor, targets: torch.Tensor,
                   rng: np.random.Generator, progress: Progress | None = None) -> dict:
    """Fit the reranker alone (Sec. 3.5) with its own learning rate; the epoch with the best validation
    recall@50 of the reranker over all items (the brute force) is kept."""
    reranker = model.reranker

    def loss_of_batch(idx: np.ndarray) -> torch.Tensor:
        i = torch.as_tensor(idx, device=hist.device)
        return reranker.loss(hist[i], targets[i], cfg.rerank_negatives)

    def validate() -> float:
        probe = DeepRetrieval(model, split, cfg, np.zeros((split.n_items, 1), dtype=np.int64), hist.device)
        return recall_at_50(probe.brute_force(split.valid.inputs, 50).items, split.valid)

    return fit(reranker, loss_of_batch, len(targets), epochs=cfg.rerank_epochs, batch_size=cfg.batch_size,
               lr=cfg.rerank_lr, weight_decay=cfg.rerank_weight_decay, rng=rng, validate=validate,
               progress=progress, label="DR rerank", patience=cfg.rerank_patience,
               epoch_samples=cfg.epoch_samples).as_dict()


def train_dr(split: Split, cfg: DRConfig = DRConfig(), seed: int = 0, device=torch.device("cpu"),
             progress: Progress | None = None) -> DeepRetrieval:
    """The reranker first, then EM: θ steps (Eq. 5, gradient) alternating with π steps (Sec. 3.3-3.4)."""
    rng = set_seed(seed)
    samples = sliding_window_samples(split)
    n_paths = cfg.width ** cfg.depth
    pi = np.stack([rng.choice(n_paths, cfg.paths_per_item, replace=False) for _ in range(split.n_items)])
    model = DRModel(split, cfg).to(device)
    hist, _, targets = sample_tensors(samples, device)
    targets_np = samples.targets
    total_epochs = cfg.rerank_epochs + cfg.epochs + cfg.em_rounds * cfg.round_epochs
    state = {"done": 0, "pi": pi}

    def report_in(epochs: int):
        def report(fraction: float, message: str) -> None:
            if progress:
                progress((state["done"] + fraction * epochs) / total_epochs, message)
        return report

    rerank_log = train_reranker(model, split, cfg, hist, targets, rng, report_in(cfg.rerank_epochs))
    state["done"] += cfg.rerank_epochs
    if cfg.warm_start:
        with torch.no_grad():
            model.encoder.history.weight.copy_(model.reranker.encoder.history.weight)

    def loss_of_batch(idx: np.ndarray) -> torch.Tensor:
        x = model.encode(hist[torch.as_tensor(idx, device=device)])
        paths = torch.as_tensor(path_codes(state["pi"][targets_np[idx]], cfg.width, cfg.depth), device=device)
        return -torch.logsumexp(model.path_log_prob(x, paths), dim=1).mean()  # -Q_str (Eq. 5)

    def validate() -> float:
        probe = DeepRetrieval(model, split, cfg, state["pi"], device)
        return recall_at_50(probe.retrieve(split.valid.inputs, 50).items, split.valid)

    def run(epochs: int, label: str) -> dict:
        log = fit(model, loss_of_batch, len(samples), epochs=epochs, batch_size=cfg.batch_size, lr=cfg.lr, rng=rng,
                  validate=validate, progress=report_in(epochs), label=label,
                  epoch_samples=cfg.epoch_samples).as_dict()
        state["done"] += epochs
        return log

    phases = [run(cfg.epochs, "DR θ step 0")]
    rounds, cands = [], None
    for r in range(1, cfg.em_rounds + 1):
        model.eval()
        cands = path_candidates(model, hist, targets_np, split.n_items, cfg.candidates)
        before = path_size_stats(state["pi"], n_paths)
        state["pi"] = assign_paths(cands, state["pi"], n_paths, cfg.alpha, cfg.sweeps, rng)
        rounds.append({"round": r, "before": before, "after": path_size_stats(state["pi"], n_paths),
                       "objective": total_objective(cands, state["pi"], n_paths, cfg.alpha)})
        phases.append(run(cfg.round_epochs, f"DR θ step {r}"))
    model.eval()
    log = {"rerank": rerank_log, "phases": phases, "em_rounds": rounds,
           "train_seconds": float(sum(sum(p["seconds_per_epoch"]) for p in [rerank_log, *phases]))}
    # candidates for the last θ: what the page's live π step re-runs with other alphas
    cands = path_candidates(model, hist, targets_np, split.n_items, cfg.candidates)
    final = DeepRetrieval(model, split, cfg, state["pi"], device, log, cands)
    store_pi_steps(final)  # the page's views of the π step, made once here, not on a visit
    log["budget_curve"] = budget_curve(final, split.valid, "beam", DR_BEAMS)
    log["bruteforce_recall@50"] = recall_at_50(final.brute_force(split.valid.inputs, 50).items, split.valid)  # the curve's ceiling
    return final


def dr_state(retriever: DeepRetrieval) -> tuple[dict, dict]:
    c = retriever.candidates
    arrays = {"pi": retriever.pi}
    if c is not None:
        arrays.update(cand_items=c.items, cand_paths=c.paths, cand_scores=c.scores, cand_counts=c.counts)
    for alpha, pi in retriever.rerun_paths.items():
        arrays[f"rerun_pi_{alpha:g}"] = pi
    return retriever.model.state_dict(), arrays


def restore_dr(split: Split, cfg: DRConfig, payload: dict, device) -> DeepRetrieval:
    model = DRModel(split, cfg)
    model.load_state_dict(payload["state"])
    a = payload["arrays"]
    cands = PathCandidates(a["cand_items"], a["cand_paths"], a["cand_scores"], a["cand_counts"]) \
        if "cand_items" in a else None
    retriever = DeepRetrieval(model.to(device), split, cfg, a["pi"], device, payload["log"], cands)
    retriever.rerun_paths = {alpha: a[f"rerun_pi_{alpha:g}"] for alpha in PAGE_ALPHAS if f"rerun_pi_{alpha:g}" in a}
    return retriever


PAGE_ALPHAS = (0.0, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)  # the DR page's α slider
STORED_ALPHAS = (0.0,)  # the DR page's default α (no penalty: the collapse): its π step is always stored
# Item visits of one π step (items x sweeps) above which every α of the page is stored with the model too: on two
# cores ml-100k's step (1,447 x 3) takes 0.3 s and is made on a click; synthetic-10k's (9,993 x 3) takes 2.1 s,
# which a student moving the slider in a class of thirty waited 11 s for (issue 13 §3).
STORE_EVERY_ALPHA_ABOVE = 8_000


def store_pi_steps(retriever: DeepRetrieval, above: int = STORE_EVERY_ALPHA_ABOVE) -> None:
    """Make the π steps the page shows and keep them with the model: the default α always, every α of the page
    when one step visits more than ``above`` items."""
    alphas = PAGE_ALPHAS if len(retriever.pi) * retriever.cfg.sweeps > above else STORED_ALPHAS
    for alpha in alphas:
        retriever.rerun_paths[alpha] = rerun_path_step(retriever, alpha)


def rerun_path_step(retriever: DeepRetrieval, alpha: float, seed: int = 0) -> np.ndarray:
    """The π step re-run on the trained model's candidates with another penalty weight (for seed 0 and an
    α stored at training time by :func:`store_pi_steps`, that result: the same, without the seconds of work)."""
    if not np.isfinite(alpha) or alpha < 0:
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
    if seed == 0 and float(alpha) in retriever.rerun_paths:
        return retriever.rerun_paths[float(alpha)]
    if retriever.candidates is None:
        raise ValueError("this model was saved without its path candidates; retrain it")
    return assign_paths(retriever.candidates, retriever.pi, retriever.n_paths, alpha, retriever.cfg.sweeps,
                        np.random.default_rng(seed))


def path_genre_mix(retriever: DeepRetrieval, genres: np.ndarray) -> np.ndarray:
    """[n_paths, n_genres] genre distribution of the movies on each path."""
    mix = np.zeros((retriever.n_paths, genres.shape[1]))
    np.add.at(mix, retriever.pi.ravel(), np.repeat(genres, retriever.pi.shape[1], axis=0))
    return mix / np.maximum(mix.sum(1, keepdims=True), 1e-9)


def multi_cluster_items(retriever: DeepRetrieval, genres: np.ndarray, n: int = 30) -> np.ndarray:
    """Movies whose J paths carry the most different genre mixes (mean pairwise L1 distance)."""
    mix = path_genre_mix(retriever, genres)[retriever.pi]  # [n_items, J, G]
    J = mix.shape[1]
    dist = sum(np.abs(mix[:, a] - mix[:, b]).sum(-1) for a in range(J) for b in range(a + 1, J))
    return np.argsort(-dist, kind="stable")[:n]
