"""Deep Retrieval (Gao et al., CIKM'21, arXiv 2007.07203) learned for the study's scorer, which plays the
teacher: a training query's positives are its exact top items (:class:`.world.TrainingSet`).

* Lattice (Sec. 3.1): D layers of K codes, K^D ~ n / ``per_path``; each item on J = 3 paths, the paper's J
  (10^6 items build in ~32 s on a loaded 2-core machine; held-out recall at 10^5, lam = 0 / 1, ~1,400
  evaluations: J = 3 0.48 / 0.69, J = 1 0.35 / 0.56).
* Initial paths: residual k-means of the item vectors (c_1 the code of v, c_2 of its residual, c_3 of the
  next; the J paths differ in c_3), so that a code means the same under every prefix, as the paper's shared
  code embeddings assume. From hierarchical k-means (children arbitrary per prefix) the model has to
  memorise K^(D-1) prefixes: held-out recall at B = 16, 10^5 items, lam = 0: 0.25 against 0.48.
* Structure model (Sec. 3.1): layer d is an MLP on [q, emb(c_1), .., emb(c_{d-1})] with a K-way softmax.
* E step (Sec. 3.2, the paper's θ step): Adam on -sum over (query, top item v) of log sum_j p(pi_j(v) | q).
* M step (Sec. 3.3-3.4): s[v, c] = sum of p(c | q) over the training queries with v in their top, for the
  paths c of their beams (width S) and v's current paths; coordinate descent on
  sum_v N_v log sum_j s[v, pi_j(v)] - alpha sum_c f(|c|), f(|c|) = |c|^4 / 4, each item's J paths chosen by
  the paper's greedy gain. Vectorised over a chunk of items; a chunk whose exact change of the objective is
  negative is split in halves, so the step never lowers the objective. alpha = alpha_rel mean N_v /
  (J per_path)^3: one more item on a path of the target size costs alpha_rel mean N_v nats.
  Items in no training query's top list keep their initial paths (no data moves them).
* Rounds: E step, then ``em_rounds`` x (M step, E step); kept: the round with the best recall at equal
  evaluations on held-out training queries (never the study's test queries).
* Serving (Sec. 3.5): beam of width B layer by layer (K model logits for the first layer, b * K for the b
  prefixes kept at each later one; prefixes holding no item are masked), the items on the B final paths
  collected once each and reranked by the scorer. ``evaluations`` = model logits + scorer evaluations.

:func:`untrained_dr` is the baseline: hierarchical k-means (K centres inside every prefix, J = 1) and no
learning, p(c_d | q, prefix) = softmax over the prefix's children of s(q, child's centroid) / tau.
"""
from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from scipy import sparse
from torch import nn

from .base import Found
from .brute import top_k
from .world import TrainingSet, World

EPS = 1e-12


@dataclass
class DRConfig:
    depth: int = 3  # D (paper: 3)
    per_path: int = 15  # K = round((n / per_path) ^ (1 / D))
    paths_per_item: int = 3  # J (paper: 3)
    hidden: int = 128  # validation at 10^4: 256 within 0.01, 1.4x the E step's time
    epochs: int = 6  # first E step
    round_epochs: int = 2  # each later E step
    em_rounds: int = 2  # M steps
    lr: float = 3e-3
    batch_size: int = 64  # queries, each with its top items
    alpha_rel: float = 0.5  # penalty weight (module docstring); validation at 10^4: 0.5 over 0 (collapse) and 2
    candidates: int = 16  # S: beam width per training query in the M step
    sweeps: int = 2  # coordinate-descent sweeps per M step
    val_queries: int = 200  # training queries held out for validation (at most a tenth)
    val_beam: int = 16  # the validation figure's B; rounds are compared at its evaluations


def penalty(size):
    """f(|c|) = |c|^4 / 4 (Sec. 3.4)."""
    return np.asarray(size, dtype=np.float64) ** 4 / 4.0


def lattice_width(n: int, depth: int, per_path: int) -> int:
    return max(2, int(round((n / per_path) ** (1.0 / depth))))


def codes_of(ids: np.ndarray, width: int, depth: int) -> np.ndarray:
    """Path ids [...] -> codes [..., D] (c_1 first)."""
    return np.stack([(ids // width ** (depth - 1 - d)) % width for d in range(depth)], -1)


def _lloyd(x: np.ndarray, k: int, rng: np.random.Generator, iters: int) -> np.ndarray:
    c = x[rng.choice(len(x), k, replace=len(x) < k)].copy()
    for _ in range(iters):
        one_hot = np.eye(k, dtype=np.float32)[np.argmax(x @ c.T - 0.5 * (c * c).sum(1), axis=1)]
        count = one_hot.sum(0)[:, None]
        c = np.where(count > 0, one_hot.T @ x / np.maximum(count, 1), c)
    return c


def residual_lattice(x: np.ndarray, width: int, depth: int, J: int, rng: np.random.Generator,
                     sample: int = 50_000) -> np.ndarray:
    """Initial paths [n, J]: k-means of v, then of the residuals; the J paths are the J nearest last codes."""
    r, ids = x.astype(np.float32).copy(), np.zeros((len(x), 1), np.int64)
    for d in range(depth):
        c = _lloyd(r[rng.choice(len(r), min(len(r), sample), replace=False)], width, rng, 10)
        fit = r @ c.T - 0.5 * (c * c).sum(1)
        if d == depth - 1:
            near = np.argpartition(-fit, J - 1, 1)[:, :J] if J < width else np.argsort(-fit, 1)
            return ids * width + np.take_along_axis(near, np.argsort(-np.take_along_axis(fit, near, 1), 1), 1)
        code = np.argmax(fit, 1)
        r -= c[code]
        ids = ids * width + code[:, None]


def kmeans_lattice(x: np.ndarray, width: int, depth: int, rng: np.random.Generator) -> tuple[np.ndarray, list]:
    """Hierarchical k-means (the old ``FixedLattice``): each item's path id [n] and, per layer d, the mean
    vector of every prefix of length d + 1 [K^(d+1), dim]."""
    prefix = np.zeros(len(x), dtype=np.int64)
    for d in range(depth):
        order = np.argsort(prefix, kind="stable")
        bounds = np.searchsorted(prefix[order], np.arange(width ** d + 1))
        code = np.zeros(len(x), dtype=np.int64)
        for a, b in zip(bounds[:-1], bounds[1:]):  # a loop over prefixes (<= K^(D-1)), not over items
            if b > a:
                xs = x[order[a:b]]
                c = _lloyd(xs, width, rng, 6)
                code[order[a:b]] = np.argmax(xs @ c.T - 0.5 * (c * c).sum(1), axis=1)
        prefix = prefix * width + code
    means = []
    for d in range(depth):
        ids, m = prefix // width ** (depth - 1 - d), width ** (d + 1)
        sums = np.stack([np.bincount(ids, x[:, j], minlength=m) for j in range(x.shape[1])], 1)
        means.append((sums / np.maximum(np.bincount(ids, minlength=m), 1)[:, None]).astype(np.float32))
    return prefix, means


def plan(which: np.ndarray, codes: np.ndarray, width: int) -> list:
    """Paths ``codes`` [M, J, D] of queries ``which`` [M]: per layer the distinct (query, prefix) rows, whose
    softmax is computed once, and each path's row and code there (as tensors)."""
    flat, out = codes.reshape(-1, codes.shape[-1]), []
    key = np.repeat(which.astype(np.int64), codes.shape[1])
    for d in range(codes.shape[-1]):
        _, first, inv = np.unique(key, return_index=True, return_inverse=True)
        out.append(tuple(torch.as_tensor(a) for a in (
            which[first // codes.shape[1]], flat[first, :d], inv.reshape(codes.shape[:2]), codes[..., d])))
        key = key * width + flat[:, d]
    return out


class StructureModel(nn.Module):
    """Layer d: MLP([q, emb(c_1), .., emb(c_{d-1})]) -> K logits (Sec. 3.1). Its first linear layer on the
    concatenation is Wq q + b + sum_j E_dj[c_j], each code's embedding kept already multiplied by its block
    of the weights (tables [K, hidden]): q's part is computed once per query."""

    def __init__(self, dim: int, width: int, depth: int, hidden: int):
        super().__init__()
        self.wq = nn.ModuleList(nn.Linear(dim, hidden) for _ in range(depth))
        self.emb = nn.ParameterList(nn.Parameter(0.1 * torch.randn(max(d, 1), width, hidden)) for d in range(depth))
        self.out = nn.ModuleList(nn.Linear(hidden, width) for _ in range(depth))

    def log_probs(self, d: int, a: torch.Tensor, prefix: torch.Tensor) -> torch.Tensor:
        """a = Wq_d q + b_d [..., h], prefix codes [..., d] -> log p(c_d | q, prefix) [..., K]."""
        hidden = a + sum(self.emb[d][j][prefix[..., j]] for j in range(d))
        return F.log_softmax(self.out[d](torch.relu(hidden)), -1)

    def path_log_prob(self, q: torch.Tensor, paths: list) -> torch.Tensor:
        """log p(path | q) [M, J] of the paths of a :func:`plan` (teacher forcing)."""
        return sum(self.log_probs(d, self.wq[d](q[rows]), prefix)[inv, code]
                   for d, (rows, prefix, inv, code) in enumerate(paths))

    def beam(self, q: torch.Tensor, beam: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-``beam`` paths [Q, B, D] and their log-probabilities [Q, B], batched over queries."""
        width = self.out[0].out_features
        prefix, logp = torch.zeros(len(q), 1, 0, dtype=torch.long), torch.zeros(len(q), 1)
        for d in range(len(self.out)):
            total = (logp[:, :, None] + self.log_probs(d, self.wq[d](q)[:, None, :], prefix)).flatten(1)
            logp, idx = torch.topk(total, min(beam, total.shape[1]), dim=1)
            parent = prefix.gather(1, (idx // width)[..., None].expand(-1, -1, d))
            prefix = torch.cat([parent, (idx % width)[..., None]], 2)
        return prefix, logp

    def export(self) -> list[tuple]:
        """Per layer (Wq [h, dim], b [h], [E_dj [K, h]], Wout [K, h], bout [K]) in numpy."""
        t = lambda a: a.detach().numpy().astype(np.float32)
        return [(t(wq.weight), t(wq.bias), [t(emb[j]) for j in range(d)], t(out.weight), t(out.bias))
                for d, (wq, emb, out) in enumerate(zip(self.wq, self.emb, self.out))]


class DRIndex:
    """Beam search over the lattice, one query at a time (numpy), then the scorer reranks the items."""
    knob = "beam"

    def __init__(self, world: World, paths: np.ndarray, width: int, depth: int, name: str,
                 layers: list | None = None, means: list | None = None, tau: float = 0.05, log: dict | None = None):
        self.world, self.width, self.depth, self.name = world, width, depth, name
        self.layers, self.means, self.tau, self.log = layers, means, tau, log or {}
        self.set_paths(paths)

    def set_paths(self, paths: np.ndarray) -> None:
        self.paths = np.asarray(paths, dtype=np.int64).reshape(self.world.n, -1)  # [n, J] path ids
        flat = self.paths.ravel()
        order = np.argsort(flat, kind="stable")
        self.path_items = order // self.paths.shape[1]
        self.path_start = np.searchsorted(flat[order], np.arange(self.width ** self.depth + 1))
        used = np.diff(self.path_start) > 0
        self.valid = [used.reshape(-1, self.width ** (self.depth - 1 - d)).any(1) for d in range(self.depth)]

    def settings(self) -> list[int]:
        """B on a sqrt(2) grid up to all paths, or until the cost nears half the catalogue."""
        per_beam = self.width * (self.depth - 1) + self.paths.shape[1] * self.world.n / self.width ** self.depth
        top = min(self.width ** self.depth, max(256, int(self.world.n / (2 * per_beam))))
        return sorted({int(round(2 ** (e / 2))) for e in range(40) if 2 ** (e / 2) < top} | {top})

    def _layer(self, q: np.ndarray, state, d: int, codes: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """[b, K] log p(c_d | q, prefix) of the b prefixes (``codes`` [b, d], ``ids`` [b])."""
        children = ids[:, None] * self.width + np.arange(self.width)
        if self.layers is not None:
            wq, bias, tables, wout, bout = self.layers[d]
            hidden = (wq @ q + bias)[None, :] + sum(tables[j][codes[:, j]] for j in range(d))
            logits = np.maximum(hidden, 0.0) @ wout.T + bout
        else:
            logits = self.world.scorer.score(state, self.means[d][children.ravel()]).reshape(children.shape) / self.tau
        logits = np.where(self.valid[d][children], logits, -np.inf)
        top = logits.max(1, keepdims=True)
        return logits - top - np.log(np.exp(logits - top).sum(1, keepdims=True))

    def search(self, query: np.ndarray, k: int, setting: int) -> Found:
        q = np.asarray(query, dtype=np.float32)
        state, K, evaluations = self.world.scorer.query_state(q), self.width, 0
        codes, ids, logp = np.zeros((1, 0), dtype=np.int64), np.zeros(1, dtype=np.int64), np.zeros(1)
        for d in range(self.depth):
            step = self._layer(q, state, d, codes, ids)
            evaluations += step.size
            total = (logp[:, None] + step).ravel()
            keep = min(int(setting), int(np.isfinite(total).sum()))
            best = np.argpartition(-total, keep - 1)[:keep] if keep < len(total) else np.arange(len(total))
            codes = np.concatenate([codes[best // K], (best % K)[:, None]], 1)
            ids, logp = ids[best // K] * K + best % K, total[best]
        start, lens = self.path_start[ids], self.path_start[ids + 1] - self.path_start[ids]
        items = self.path_items[np.repeat(start - np.cumsum(lens) + lens, lens) + np.arange(lens.sum())]
        items = np.unique(items) if self.paths.shape[1] > 1 else items
        return Found(top_k(self.world.scorer.score(state, self.world.items[items]), items, k), evaluations + len(items))

    def nbytes(self) -> int:
        arrays = [self.paths, self.path_items, self.path_start, *self.valid, *(self.means or [])]
        for wq, b, tables, wout, bout in self.layers or []:
            arrays += [wq, b, *tables, wout, bout]
        return int(sum(a.nbytes for a in arrays))


def untrained_dr(world: World, seed: int, per_path: int = 15, depth: int = 3, tau: float = 0.05) -> DRIndex:
    """The hierarchical k-means lattice with no learning; a prefix's children scored by the scorer on their
    centroids (softmax / tau), as the old study's ``FixedLattice``."""
    width = lattice_width(world.n, depth, per_path)
    path, means = kmeans_lattice(world.items, width, depth, np.random.default_rng(seed))
    return DRIndex(world, path, width, depth, "dr_untrained", means=means, tau=tau)


# ---------------------------------------------------------------------------- M step (Sec. 3.4)


@dataclass
class Candidates:
    """s[v, c] of every seen item's candidate paths (rows sorted by item) and N_v of every item."""
    item: np.ndarray
    path: np.ndarray
    s: np.ndarray
    n_v: np.ndarray


def path_candidates(model: StructureModel, queries: np.ndarray, top: np.ndarray, pi: np.ndarray, width: int,
                    beam: int, batch: int = 256) -> Candidates:
    """s[v, c] = sum of p(c | q) over the training queries with v in their top, for the paths c of their beams
    (width S) and v's current paths (exact p by teacher forcing where not in a query's beam)."""
    depth, (n, J), T = len(model.out), pi.shape, top.shape[1]
    n_paths, parts = width ** depth, []
    with torch.no_grad():
        for a in range(0, len(queries), batch):
            q, t = torch.as_tensor(queries[a:a + batch]), top[a:a + batch]
            paths, logp = model.beam(q, beam)
            ids = (paths.numpy() * width ** np.arange(depth - 1, -1, -1)).sum(-1)  # [b, S]
            hits = sparse.csr_matrix((np.ones(t.size), t.ravel(), np.arange(0, t.size + 1, T)), (len(t), n))
            probs = sparse.csr_matrix((logp.exp().numpy().ravel(), ids.ravel(),
                                       np.arange(0, ids.size + 1, ids.shape[1])), (len(t), n_paths))
            parts.append((hits.T @ probs).tocoo())  # summed over the batch's queries
            cur = pi[t.ravel()].reshape(len(t), T, J)
            missing = ~(cur[..., None] == ids[:, None, None, :]).any(-1)
            which = np.repeat(np.arange(len(t)), T)
            lp = model.path_log_prob(q, plan(which, codes_of(cur.reshape(-1, J), width, depth), width))
            parts.append(sparse.coo_matrix((lp.exp().numpy().ravel() * missing.ravel(),
                                            (np.repeat(t.ravel(), J), cur.ravel())), (n, n_paths)))
    table = sparse.coo_matrix((np.concatenate([m.data for m in parts]).astype(np.float64),
                               (np.concatenate([m.row for m in parts]), np.concatenate([m.col for m in parts]))),
                              (n, n_paths)).tocsr()
    table.sum_duplicates()
    return Candidates(np.repeat(np.arange(n), np.diff(table.indptr)), table.indices.astype(np.int64), table.data,
                      np.bincount(top.ravel(), minlength=n).astype(np.float64))


def objective(c: Candidates, pi: np.ndarray, n_paths: int, alpha: float) -> float:
    """sum_v N_v log(eps + sum_j s[v, pi_j(v)]) - alpha sum_c f(|c|)."""
    own = (pi[c.item] == c.path[:, None]).any(1)
    total, seen = np.bincount(c.item, c.s * own, minlength=len(pi)), c.n_v > 0
    return float((c.n_v[seen] * np.log(EPS + total[seen])).sum()
                 - alpha * penalty(np.bincount(pi.ravel(), minlength=n_paths)).sum())


def m_step(c: Candidates, pi: np.ndarray, n_paths: int, alpha: float, sweeps: int, rng: np.random.Generator,
           chunks: int = 16) -> tuple[np.ndarray, int]:
    """Coordinate descent over the seen items, a chunk at a time: each item re-chooses its J paths greedily
    by N_v [log(eps + S_prev + s) - log(eps + S_prev)] - alpha [f(|c| + 1) - f(|c|)] (|c| without the item)
    and keeps them if its part of the objective rises; a chunk is applied if the exact change of the whole
    objective is >= 0, else split in halves. Returns the new paths and the number of items moved."""
    pi, J, moved = pi.copy(), pi.shape[1], 0
    sizes = np.bincount(pi.ravel(), minlength=n_paths).astype(np.float64)
    starts = np.searchsorted(c.item, np.arange(len(pi) + 1))

    def move(items: np.ndarray) -> None:
        nonlocal moved
        lens = starts[items + 1] - starts[items]
        rows = np.repeat(starts[items] - np.cumsum(lens) + lens, lens) + np.arange(lens.sum())
        grp, heads = np.repeat(np.arange(len(items)), lens), np.cumsum(lens) - lens
        p, s, nv = c.path[rows], c.s[rows], c.n_v[items]
        own = (pi[items][grp] == p[:, None]).any(1)
        cost = alpha * (penalty(sizes[p] - own + 1) - penalty(sizes[p] - own))
        s_old = np.bincount(grp, s * own, minlength=len(items))
        old = nv * np.log(EPS + s_old) - np.bincount(grp, cost * own, minlength=len(items))
        chosen, s_new, new_paths = np.zeros(len(rows), bool), np.zeros(len(items)), np.empty((len(items), J), np.int64)
        for j in range(J):  # the paper's greedy step, for every item of the chunk at once
            gain = nv[grp] * (np.log(EPS + s_new[grp] + s) - np.log(EPS + s_new[grp])) - cost
            gain[chosen] = -np.inf
            top = np.maximum.reduceat(gain, heads)[grp]
            best = np.minimum.reduceat(np.where(gain == top, np.arange(len(gain)), len(gain)), heads)
            chosen[best], s_new, new_paths[:, j] = True, s_new + s[best], p[best]
        ok = nv * np.log(EPS + s_new) - np.bincount(grp, cost * chosen, minlength=len(items)) > old + 1e-9 * np.abs(old)
        if not ok.any():
            return
        after = sizes - np.bincount(pi[items[ok]].ravel(), minlength=n_paths) \
            + np.bincount(new_paths[ok].ravel(), minlength=n_paths)
        touched = np.flatnonzero(after != sizes)
        change = (nv[ok] * (np.log(EPS + s_new[ok]) - np.log(EPS + s_old[ok]))).sum() \
            - alpha * (penalty(after[touched]) - penalty(sizes[touched])).sum()
        if change < 0 and len(items) > 1:  # sizes went stale inside the chunk: halve it
            move(items[:len(items) // 2])
            move(items[len(items) // 2:])
            return
        pi[items[ok]], sizes[:] = new_paths[ok], after
        moved += int(ok.sum())

    for _ in range(sweeps):
        for chunk in np.array_split(rng.permutation(np.flatnonzero(c.n_v > 0)), chunks):
            move(chunk)
    return pi, moved


# ---------------------------------------------------------------------------- EM


def validate(index: DRIndex, queries: np.ndarray, top: np.ndarray, beam: int, budget: float | None = None) -> dict:
    """Recall vs the exact top at B = ``beam`` with its mean evaluations, and (given ``budget``) the recall
    at that many evaluations, interpolated over the B grid."""
    def at(b: int) -> tuple[float, float]:
        found = [index.search(q, top.shape[1], b) for q in queries]
        return (float(np.mean([f.evaluations for f in found])),
                float(np.mean([len(np.intersect1d(f.items, t)) / top.shape[1] for f, t in zip(found, top)])))
    cost, rec = at(beam)
    out = {"beam": beam, "evaluations": cost, "recall": rec}
    if budget is not None:
        curve = [(0.0, 0.0)]
        for b in index.settings()[::2]:
            curve.append(at(b))
            if curve[-1][0] >= budget:
                break
        out["recall_at_budget"] = float(np.interp(budget, *zip(*curve)))
    return out


def build_dr(world: World, train: TrainingSet, seed: int, cfg: DRConfig = DRConfig(), **overrides) -> DRIndex:
    """The learned lattice (module docstring); ``log``: per round the objective, path sizes, seconds and the
    validation figure; the phases' seconds."""
    cfg, t0, phases = replace(cfg, **overrides), time.perf_counter(), {}
    rng, D, J, T = np.random.default_rng(seed), cfg.depth, cfg.paths_per_item, train.top.shape[1]
    K = lattice_width(world.n, D, cfg.per_path)
    n_val = max(1, min(cfg.val_queries, len(train.queries) // 10))
    q_train, top_train = train.queries[:-n_val], train.top[:-n_val]
    q_val, top_val = train.queries[-n_val:], train.top[-n_val:]

    def timed(name: str, fn, *args):
        start = time.perf_counter()
        out = fn(*args)
        phases[name] = phases.get(name, 0.0) + time.perf_counter() - start
        return out

    pi = timed("init", residual_lattice, world.items, K, D, J, rng)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = StructureModel(world.items.shape[1], K, D, cfg.hidden)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        queries = torch.as_tensor(q_train)

        def e_step(epochs: int) -> float:
            """-sum over (query, top item v) of log sum_j p(pi_j(v) | q), Adam on batches of queries."""
            model.train()
            order = rng.permutation(len(q_train))
            batches = [order[a:a + cfg.batch_size] for a in range(0, len(order), cfg.batch_size)]
            plans = [plan(np.repeat(np.arange(len(b)), T), codes_of(pi[top_train[b].ravel()], K, D), K)
                     for b in batches]
            for _ in range(epochs):
                total = 0.0
                for i in rng.permutation(len(batches)):
                    loss = -torch.logsumexp(model.path_log_prob(queries[batches[i]], plans[i]), 1).mean()
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    total += float(loss.detach()) * len(batches[i])
            model.eval()
            return total / len(order)

        index, budget, rounds, best = DRIndex(world, pi, K, D, "dr"), None, [], None
        for r in range(cfg.em_rounds + 1):
            start, extra = time.perf_counter(), {}
            if r:
                cands = timed("candidates", path_candidates, model, q_train, top_train, pi, K, max(cfg.candidates, J))
                extra["objective_before"] = objective(cands, pi, K ** D, alpha)
                pi, extra["moved"] = timed("m_step", m_step, cands, pi, K ** D, alpha, cfg.sweeps, rng)
                extra["objective_after"] = objective(cands, pi, K ** D, alpha)
            loss = timed("e_step", e_step, cfg.round_epochs if r else cfg.epochs)
            index.layers = model.export()
            index.set_paths(pi)
            val = timed("validate", validate, index, q_val, top_val, cfg.val_beam, budget)
            budget = budget or val["evaluations"]  # rounds compared at round 0's cost at B = val_beam
            val.setdefault("recall_at_budget", val["recall"])
            sizes = np.bincount(pi.ravel(), minlength=K ** D)
            rounds.append({"round": r, "train_nll": loss, **extra, "max_path": int(sizes.max()), "mean_path":
                           float(sizes[sizes > 0].mean()), "used_paths": int((sizes > 0).sum()), "validation": val,
                           "seconds": time.perf_counter() - start})
            if best is None or val["recall_at_budget"] > best[0]:
                best = (val["recall_at_budget"], r, copy.deepcopy(model.state_dict()), pi.copy())
            if not r:
                seen = np.bincount(top_train.ravel(), minlength=world.n)
                alpha = cfg.alpha_rel * float(seen[seen > 0].mean()) / float(J * cfg.per_path) ** 3
        model.load_state_dict(best[2])
        index.layers = model.export()
        index.set_paths(best[3])
    index.log = {"config": asdict(cfg), "K": K, "alpha": alpha, "n_val_queries": n_val,
                 "seen_items": int((seen > 0).sum()), "rounds": rounds, "chosen_round": best[1],
                 "validation": rounds[best[1]]["validation"], "phase_seconds": phases,
                 "build_seconds": time.perf_counter() - t0}
    return index
