"""One evaluation protocol for every method: the retriever interface, metrics, baselines.

Metrics follow the TDM paper (Zhu et al., KDD'18, Sec. 5.1): for a user with
retrieved set P (|P| = M) and ground truth G,
Precision@M = |P ∩ G| / M, Recall@M = |P ∩ G| / |G|, F@M = 2PR / (P + R),
each averaged over users.  NDCG@M and HitRate@M are added for ranking quality.
Items of the input half never count: retrievers exclude a user's history.
"""
from __future__ import annotations

import abc
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import sparse

from .data import HeldOut, Split


@dataclass
class RetrievalResult:
    items: np.ndarray  # [n_users, k] item ids best first; -1 where fewer than k were found
    scores: np.ndarray  # [n_users, k]
    n_scored: np.ndarray  # [n_users] model evaluations spent (items or index nodes)
    traces: list | None = None  # one search trace per user when asked for
    extras: dict = field(default_factory=dict)


class Retriever(abc.ABC):
    """What every method implements; pages and the evaluator rely only on this."""

    method: str = "?"
    n_items: int = 0

    @abc.abstractmethod
    def retrieve(self, histories: list[np.ndarray], k: int, trace: bool = False,
                 users: np.ndarray | None = None) -> RetrievalResult:
        """Top-k with the method's index (or exact, for methods without one).

        ``histories`` are time-ordered item ids (their items are never returned);
        ``users`` are internal user indices, used by models with profile features.
        """

    @abc.abstractmethod
    def brute_force(self, histories: list[np.ndarray], k: int, users: np.ndarray | None = None) -> RetrievalResult:
        """The same model's exact top-k over all items: the ceiling for its index."""

    def extra_metrics(self, held: HeldOut, k: int) -> dict:
        """Method-specific figures added to the evaluation report."""
        return {}


def checked_size(name: str, value, low: int = 1, high: int | None = None) -> int:
    """A search knob (k, beam, ef, steps) as an int within bounds, or one clear ValueError."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a whole number, got {value!r}") from None
    if number != value or number < low or (high is not None and number > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return number


def exclusion_mask(histories: list[np.ndarray], n_items: int) -> torch.Tensor:
    """Boolean [n_users, n_items], True where the item is in the user's history."""
    mask = torch.zeros(len(histories), n_items, dtype=torch.bool)
    for row, h in enumerate(histories):
        if len(h):
            mask[row, torch.from_numpy(np.array(h, dtype=np.int64))] = True
    return mask


def top_k_excluding(scores: torch.Tensor, histories: list[np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k of a dense [n_users, n_items] score matrix, history items removed."""
    scores = scores.detach().float().cpu().clone()
    scores[exclusion_mask(histories, scores.shape[1])] = -torch.inf
    k_eff = min(k, scores.shape[1])
    values, idx = torch.topk(scores, k_eff, dim=1)
    items = idx.numpy().astype(np.int64)
    items[~torch.isfinite(values).numpy()] = -1
    return _pad(items, values.numpy(), k)


def _pad(items: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    if items.shape[1] < k:
        extra = k - items.shape[1]
        items = np.pad(items, ((0, 0), (0, extra)), constant_values=-1)
        scores = np.pad(scores, ((0, 0), (0, extra)), constant_values=-np.inf)
    return items, scores.astype(np.float32)


def pack_ranked(rows: list[tuple[np.ndarray, np.ndarray]], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Stack per-user (items, scores) lists of varying length into [n, k] arrays."""
    items = np.full((len(rows), k), -1, dtype=np.int64)
    scores = np.full((len(rows), k), -np.inf, dtype=np.float32)
    for r, (it, sc) in enumerate(rows):
        n = min(k, len(it))
        items[r, :n], scores[r, :n] = it[:n], sc[:n]
    return items, scores


# --------------------------------------------------------------------------- metrics


def hit_matrix(items: np.ndarray, truths: list[np.ndarray]) -> np.ndarray:
    return np.stack([np.isin(row, truth) & (row >= 0) for row, truth in zip(items, truths)])


def count_hits(items: np.ndarray, truth: np.ndarray) -> int:
    """How many of one user's returned items (padding -1 ignored) are in the held-out half."""
    return int(hit_matrix(np.asarray(items)[None], [truth]).sum())


def ranking_metrics(items: np.ndarray, truths: list[np.ndarray], ks=(10, 50)) -> dict[str, float]:
    """Per-user averaged precision, recall, F, NDCG and hit rate at each cutoff."""
    hits = hit_matrix(items, truths).astype(np.float64)
    n_truth = np.array([len(set(t.tolist())) for t in truths], dtype=np.float64)
    out = {}
    for m in ks:
        h = hits[:, :m]
        n_hit = h.sum(axis=1)
        precision = n_hit / m
        recall = n_hit / np.maximum(n_truth, 1)
        denom = precision + recall
        f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)
        discounts = 1.0 / np.log2(np.arange(2, h.shape[1] + 2))
        dcg = (h * discounts).sum(axis=1)
        ideal = np.array([discounts[: int(min(n, m))].sum() for n in n_truth])
        ndcg = np.divide(dcg, ideal, out=np.zeros_like(dcg), where=ideal > 0)
        out.update({
            f"precision@{m}": float(precision.mean()), f"recall@{m}": float(recall.mean()),
            f"f1@{m}": float(f1.mean()), f"ndcg@{m}": float(ndcg.mean()),
            f"hitrate@{m}": float((n_hit > 0).mean()),
        })
    return out


def evaluate(retriever: Retriever, split: Split, ks=(10, 50), held: HeldOut | None = None,
             batch_size: int = 256, search: dict | None = None, per_user: bool = False) -> dict:
    """Run the index and the brute-force ceiling on held-out users; return the report row.

    ``search`` overrides the index's search settings (e.g. ``{"beam": 32}``, chosen on validation);
    ``per_user`` adds each user's recall@max(ks) of the index and of brute force, for paired intervals.
    """
    held = held or split.test
    search = search or {}
    k = max(ks)
    start = time.perf_counter()
    batches = [slice(i, i + batch_size) for i in range(0, len(held), batch_size)]
    parts = [retriever.retrieve(held.inputs[b], k, users=held.users[b], **search) for b in batches]
    elapsed = time.perf_counter() - start
    items = np.concatenate([p.items for p in parts])
    n_scored = np.concatenate([p.n_scored for p in parts])
    brute = np.concatenate([retriever.brute_force(held.inputs[b], k, users=held.users[b]).items for b in batches])
    report = {"method": retriever.method, "dataset": split.name, "n_test_users": len(held),
              "n_items": split.n_items}
    if search:
        report["search"] = {key: (v.item() if isinstance(v, np.generic) else v) for key, v in search.items()}
    report.update(ranking_metrics(items, held.truths, ks))
    for name, value in ranking_metrics(brute, held.truths, ks).items():
        report[f"bruteforce_{name}"] = value
    report["scored_per_user"] = float(n_scored.mean())
    report["scored_fraction"] = float(n_scored.mean() / split.n_items)
    # a retriever may time its search alone (without trace or cost bookkeeping)
    searched = sum(p.extras.get("search_seconds", np.nan) for p in parts)
    report["ms_per_user"] = 1000.0 * (searched if np.isfinite(searched) else elapsed) / max(len(held), 1)
    if per_user:
        report[f"per_user_recall@{k}"] = per_user_recall(items, held.truths, k).tolist()
        report[f"per_user_bruteforce_recall@{k}"] = per_user_recall(brute, held.truths, k).tolist()
    report.update(retriever.extra_metrics(held, k))
    return report


def per_user_recall(items: np.ndarray, truths: list[np.ndarray], k: int = 50) -> np.ndarray:
    """recall@k of every user: |top-k ∩ truth| / |truth| (the protocol's metric before averaging)."""
    items = np.asarray(items)
    hits = hit_matrix(items[:, :k], truths).sum(axis=1)
    return hits / np.maximum([len(set(t.tolist())) for t in truths], 1)


def budget_curve(retriever: Retriever, held: HeldOut, knob: str, values: list, k: int = 50, **fixed) -> list[dict]:
    """recall@k and model evaluations per user as one search knob varies (beam size, ef, ...)."""
    rows = []
    for value in values:
        result = retriever.retrieve(held.inputs, k, users=held.users, **fixed, **{knob: value})
        rows.append({knob: value if not isinstance(value, np.generic) else value.item(),
                     "scored_per_user": float(result.n_scored.mean()),
                     f"recall@{k}": ranking_metrics(result.items, held.truths, (k,))[f"recall@{k}"]})
    return rows


# --------------------------------------------------------------------------- baselines


class DenseScoreRetriever(Retriever):
    """A retriever whose model gives a dense score for every item: index = brute force."""

    @abc.abstractmethod
    def item_scores(self, histories: list[np.ndarray], users: np.ndarray | None = None) -> torch.Tensor:
        """Dense [n_users, n_items] scores."""

    def retrieve(self, histories, k, trace=False, users=None):
        items, scores = top_k_excluding(self.item_scores(histories, users), histories, k)
        return RetrievalResult(items, scores, np.full(len(histories), self.n_items))

    def brute_force(self, histories, k, users=None):
        return self.retrieve(histories, k, users=users)


class Popularity(DenseScoreRetriever):
    """The floor: the most frequent positives among training users."""

    method = "popular"

    def __init__(self, split: Split):
        self.n_items = split.n_items
        self.counts = torch.as_tensor(split.item_counts, dtype=torch.float32)

    def item_scores(self, histories, users=None):
        return self.counts.expand(len(histories), -1)


class ItemCF(DenseScoreRetriever):
    """Item co-occurrence CF: score(j) = sum over history items i of cos(i, j).

    cos(i, j) = C_ij / sqrt(n_i n_j) with C the number of training users who
    liked both (Sarwar et al., WWW'01; the item-CF baseline of the TDM paper).
    """

    method = "item_cf"

    def __init__(self, split: Split):
        self.n_items = n = split.n_items
        liked = _binary_rows(split.train_sequences, n)
        co = (liked.T @ liked).tocsr()  # C_ij; sparse: most item pairs of a large catalogue never co-occur
        inv_norm = sparse.diags(1.0 / np.sqrt(np.maximum(co.diagonal(), 1.0)))
        similarity = (inv_norm @ co @ inv_norm).tocsr()
        similarity.setdiag(0.0)
        similarity.eliminate_zeros()
        self.similarity = similarity.astype(np.float32)  # [n_items, n_items], symmetric

    def item_scores(self, histories, users=None):
        scores = _binary_rows(histories, self.n_items) @ self.similarity
        return torch.from_numpy(np.asarray(scores.todense(), dtype=np.float32))


def _binary_rows(sequences: list[np.ndarray], n_items: int) -> sparse.csr_matrix:
    """Sparse 0/1 [len(sequences), n_items]: row r has a 1 at every item of sequences[r] (repeats count once)."""
    lengths = [len(s) for s in sequences]
    rows = np.repeat(np.arange(len(sequences)), lengths)
    cols = np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences]) if sum(lengths) else np.zeros(0, int)
    matrix = sparse.csr_matrix((np.ones(len(cols), np.float32), (rows, cols)), shape=(len(sequences), n_items))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix
