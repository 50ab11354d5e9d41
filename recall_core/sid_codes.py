"""Semantic IDs for generative retrieval (TIGER, Rajput et al., NeurIPS'23, Sec. 3.1): the quantisers.

* Item embedding (ours; the paper encodes item text with Sentence-T5): content (genre flags, release
  year) mixed with collaborative signal (a truncated SVD of the training users' item co-occurrences,
  the same cosine matrix item-CF uses), each part scaled to unit mean norm, then weighted
  ``sqrt(w)`` / ``sqrt(1 - w)`` with ``w = content_weight``.  Training sequences only (the protocol's:
  the held-out users' second halves never enter).
* RQ-VAE (Sec. 3.1, Fig. 3): an encoder MLP maps x to a latent z; L codebooks of K codes quantise it
  residually (r_0 = z, c_l = argmin_k |r_l - e_l,k|, r_{l+1} = r_l - e_l,c_l); a decoder MLP rebuilds x
  from sum_l e_l,c_l.  Loss = |x - x_hat|^2 + sum_l (|sg[r_l] - e_l|^2 + beta |r_l - sg[e_l]|^2), the
  gradient passed to the encoder straight through the quantiser; codebooks start from k-means of the
  first batch's residuals (as in the paper) and a code unused for ``reset_every`` steps is reset to a
  random residual of the current batch at its level (against dead codes: the collapse problem DR's
  |c|^4 penalty solves, handled here by the quantiser).
* Residual k-means: the simpler baseline beside it, L rounds of k-means on the residuals of x.
* Collisions (Sec. 3.1): items sharing an L-tuple get one more code 0, 1, 2, ... (every item has it;
  0 for the most frequent item of a tuple), so every item has a unique (L + 1)-tuple.
* The trie of existing IDs, node by node, for constrained beam search: level-l nodes are the distinct
  prefixes of length l (lexicographic order); the nodes of level L + 1 are the items themselves.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data import Split
from .encoders import mlp

QUANTISERS = ("rqvae", "rkmeans")


# ---------------------------------------------------------------------------- item embedding


def _unit_mean_norm(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1).mean()
    return x / norm if norm > 0 else x


def content_features(split: Split) -> np.ndarray:
    """[n_items, n_genres + 1]: genre flags over sqrt(number of genres), standardised year (unknown: median)."""
    genres = split.catalogue.genres.astype(np.float64)
    genres = genres / np.sqrt(np.maximum(genres.sum(1, keepdims=True), 1.0))
    years = split.catalogue.years.astype(np.float64)
    known = np.isfinite(years)
    year = np.zeros(len(years))
    if known.any() and years[known].std() > 0:
        filled = np.where(known, years, np.median(years[known]))
        year = (filled - filled.mean()) / filled.std()
    return np.hstack([genres, 0.5 * year[:, None]])


def collaborative_features(split: Split, dim: int) -> np.ndarray:
    """[n_items, dim]: V_k sqrt(S_k) of the item-cosine co-occurrence matrix of the training sequences
    (its top eigenvectors; an item no training user liked gets zeros)."""
    n = split.n_items
    x = np.zeros((len(split.train_sequences), n))
    for row, seq in enumerate(split.train_sequences):
        x[row, seq] = 1.0
    counts = x.sum(0)
    x = x / np.sqrt(np.maximum(counts, 1.0))
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    k = min(dim, len(s))
    out = np.zeros((n, dim))
    out[:, :k] = vt[:k].T * s[:k]
    out[counts == 0] = 0.0
    return out


def item_embeddings(split: Split, content_weight: float, cf_dim: int) -> np.ndarray:
    """The vectors that are quantised: sqrt(w) content ⊕ sqrt(1 - w) collaborative, float32."""
    if not 0.0 <= content_weight <= 1.0:
        raise ValueError(f"content_weight must be in [0, 1], got {content_weight!r}")
    parts = [np.sqrt(content_weight) * _unit_mean_norm(content_features(split)),
             np.sqrt(1.0 - content_weight) * _unit_mean_norm(collaborative_features(split, cf_dim))]
    return np.hstack(parts).astype(np.float32)


# ---------------------------------------------------------------------------- k-means


def kmeans(x: torch.Tensor, k: int, iters: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's k-means with k-means++ seeding; returns (centroids [k, d], assignment [n]).  An empty
    cluster keeps its centroid; the last step is an assignment, so each point sits at its nearest centroid."""
    n = len(x)
    centroids = torch.empty(k, x.shape[1], dtype=x.dtype)
    centroids[0] = x[torch.randint(n, (1,), generator=gen)]
    dist = ((x - centroids[0]) ** 2).sum(1)
    for j in range(1, k):
        p = dist / dist.sum() if dist.sum() > 0 else torch.full_like(dist, 1.0 / n)
        centroids[j] = x[torch.multinomial(p, 1, generator=gen)]
        dist = torch.minimum(dist, ((x - centroids[j]) ** 2).sum(1))
    assign = torch.cdist(x, centroids).argmin(1)
    for _ in range(iters):
        sums = torch.zeros_like(centroids).index_add_(0, assign, x)
        sizes = torch.bincount(assign, minlength=k)
        filled = sizes > 0
        centroids[filled] = sums[filled] / sizes[filled, None].to(x.dtype)
        new = torch.cdist(x, centroids).argmin(1)
        if torch.equal(new, assign):
            break
        assign = new
    return centroids, assign


def residual_kmeans(x: np.ndarray, levels: int, k: int, iters: int = 50, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Residual k-means: codes [n, levels] and codebooks [levels, k, d] with x ≈ sum_l codebook_l[code_l]."""
    gen = torch.Generator().manual_seed(seed)
    r = torch.as_tensor(x, dtype=torch.float64).clone()
    codes, books = [], []
    for _ in range(levels):
        centroids, assign = kmeans(r, k, iters, gen)
        codes.append(assign)
        books.append(centroids)
        r = r - centroids[assign]
    return torch.stack(codes, 1).numpy(), torch.stack(books).float().numpy()


# ---------------------------------------------------------------------------- RQ-VAE


def residual_quantise(z: torch.Tensor, codebooks: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """Nearest code level by level on the residual: codes [n, L], the residuals r_0..r_{L-1} and the chosen codes."""
    r, codes, residuals, chosen = z, [], [], []
    for book in codebooks:
        c = torch.cdist(r, book).argmin(1)
        e = book[c]
        codes.append(c)
        residuals.append(r)
        chosen.append(e)
        r = r - e
    return torch.stack(codes, 1), residuals, chosen


class RQVAE(nn.Module):
    def __init__(self, in_dim: int, hidden: int, latent: int, levels: int, k: int):
        super().__init__()
        self.encoder = mlp([in_dim, hidden, hidden, latent])
        self.decoder = mlp([latent, hidden, hidden, in_dim])
        self.codebooks = nn.Parameter(torch.randn(levels, k, latent) * 0.01)

    def forward(self, x: torch.Tensor, beta: float):
        z = self.encoder(x)
        codes, residuals, chosen = residual_quantise(z, self.codebooks)
        quantised = torch.stack(chosen).sum(0)
        x_hat = self.decoder(z + (quantised - z).detach())  # straight-through estimator
        commit = sum(F.mse_loss(e, r.detach()) + beta * F.mse_loss(r, e.detach()) for r, e in zip(residuals, chosen))
        return F.mse_loss(x_hat, x) + commit, codes, residuals


def train_rqvae(x: np.ndarray, levels: int, k: int, *, hidden: int, latent: int, beta: float, steps: int,
                lr: float, batch_size: int, reset_every: int, seed: int = 0) -> tuple[RQVAE, dict]:
    """Fit the RQ-VAE on the item embeddings; returns the model and {"resets": dead codes reset per level}."""
    gen = torch.Generator().manual_seed(seed)
    xt = torch.as_tensor(x, dtype=torch.float32)
    model = RQVAE(xt.shape[1], hidden, latent, levels, k)
    with torch.no_grad():  # k-means initialisation of the codebooks on the residuals of a first batch
        r = model.encoder(xt[torch.randperm(len(xt), generator=gen)[:max(batch_size, k)]])
        for level in range(levels):
            centroids, assign = kmeans(r, k, 20, gen)
            model.codebooks[level] = centroids
            r = r - centroids[assign]
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    unused_since = torch.zeros(levels, k, dtype=torch.long)
    resets = [0] * levels
    model.train()
    for step in range(steps):
        idx = torch.randperm(len(xt), generator=gen)[:batch_size]
        loss, codes, residuals = model(xt[idx], beta)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            for level in range(levels):
                used = torch.bincount(codes[:, level], minlength=k) > 0
                unused_since[level] = torch.where(used, 0, unused_since[level] + 1)
                dead = torch.nonzero(unused_since[level] >= reset_every).flatten()
                if len(dead) and step < steps - reset_every:  # no resets at the very end: codes settle
                    pick = torch.randint(len(idx), (len(dead),), generator=gen)
                    model.codebooks[level, dead] = residuals[level][pick].detach()
                    unused_since[level, dead] = 0
                    resets[level] += len(dead)
    model.eval()
    return model, {"resets": resets}


# ---------------------------------------------------------------------------- IDs, statistics, the trie


def disambiguate(codes: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray:
    """Append the collision code: items sharing a tuple get 0, 1, 2, ... (most frequent first, then by id)."""
    codes = np.asarray(codes, dtype=np.int64)
    n = len(codes)
    counts = np.zeros(n) if counts is None else np.asarray(counts)
    order = np.lexsort((np.arange(n), -counts, *codes.T[::-1]))
    sorted_codes = codes[order]
    new_group = np.ones(n, dtype=bool)
    new_group[1:] = (sorted_codes[1:] != sorted_codes[:-1]).any(1)
    starts = np.maximum.accumulate(np.where(new_group, np.arange(n), 0))
    extra = np.empty(n, dtype=np.int64)
    extra[order] = np.arange(n) - starts
    return np.hstack([codes, extra[:, None]])


def collision_stats(codes: np.ndarray) -> dict:
    """Of the L-tuples before disambiguation: distinct tuples, items sharing one, the largest group."""
    _, sizes = np.unique(np.asarray(codes), axis=0, return_counts=True)
    return {"unique_tuples": int(len(sizes)), "colliding_items": int(sizes[sizes > 1].sum()),
            "colliding_tuples": int((sizes > 1).sum()), "largest_group": int(sizes.max())}


def codebook_usage(codes: np.ndarray, k: int) -> list[dict]:
    """Per level: codes used, the fraction of K, and the perplexity exp(H) of the code distribution."""
    out = []
    for level in range(codes.shape[1]):
        counts = np.bincount(codes[:, level], minlength=k)
        p = counts[counts > 0] / counts.sum()
        out.append({"level": level + 1, "used": int((counts > 0).sum()), "K": int(k),
                    "usage": float((counts > 0).sum() / k), "perplexity": float(np.exp(-(p * np.log(p)).sum()))})
    return out


def reconstruction_errors(target: np.ndarray, books: np.ndarray, codes: np.ndarray) -> list[float]:
    """Relative error |target - sum_{j<=l} book_j[code_j]|^2 / |target|^2 after 0, 1, .., L levels."""
    target = np.asarray(target, dtype=np.float64)
    denom = (target ** 2).sum()
    r, out = target.copy(), [1.0]
    for level in range(codes.shape[1]):
        r = r - books[level][codes[:, level]]
        out.append(float((r ** 2).sum() / denom))
    return out


@dataclass
class Trie:
    """The IDs that exist, as a trie.  ``child[l]`` [n_l, K_l]: the level-(l+1) node reached from level-l node
    by token t, or -1; at l = L the child is the item.  ``item_node[l]`` [n_items]: each item's level-l node
    (level 0: the root 0; level L + 1: the item); ``prefixes[l]`` [n_l, l]: the codes of each node;
    ``under[l]`` [n_l]: items below each node."""

    child: list[np.ndarray]
    item_node: list[np.ndarray]
    prefixes: list[np.ndarray]
    under: list[np.ndarray]

    @property
    def depth(self) -> int:
        return len(self.child)

    @classmethod
    def build(cls, ids: np.ndarray, sizes: list[int]) -> "Trie":
        ids = np.asarray(ids, dtype=np.int64)
        n, depth = ids.shape
        if len(np.unique(ids, axis=0)) != n:
            raise ValueError("semantic IDs must be unique (disambiguate collisions first)")
        item_node = [np.zeros(n, dtype=np.int64)]
        prefixes = [np.zeros((1, 0), dtype=np.int64)]
        for l in range(1, depth):
            uniq, inverse = np.unique(ids[:, :l], axis=0, return_inverse=True)
            item_node.append(inverse.reshape(-1))
            prefixes.append(uniq)
        item_node.append(np.arange(n))
        prefixes.append(ids)
        child = []
        for l in range(depth):
            table = np.full((len(prefixes[l]), sizes[l]), -1, dtype=np.int64)
            table[item_node[l], ids[:, l]] = item_node[l + 1]
            child.append(table)
        under = [np.bincount(item_node[l], minlength=len(prefixes[l])) for l in range(depth + 1)]
        return cls(child, item_node, prefixes, under)

    def node_of(self, prefix) -> int:
        """The node id of a prefix (a tuple of codes), or -1 when no item has it."""
        node = 0
        for l, token in enumerate(prefix):
            if node < 0 or not 0 <= token < self.child[l].shape[1]:
                return -1
            node = int(self.child[l][node, token])
        return node
