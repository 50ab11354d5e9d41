"""The pair-scoring network shared by the study's scorer and the learned node models.

    s(q, v) = <q, v> + lam * w2 . relu(Wq q + Wv v + Wx (q * v) + b) / scale

An MLP over [q, v, q * v] (the feature cross of TDM's and NANN's scorers) beside the inner product;
``lam = 0`` is the pure inner product. For one query the hidden layer is ``a_q + M_q v`` with
``a_q = Wq q + b`` and ``M_q = Wv + Wx diag(q)``, so scoring m vectors is one [m, d] x [d, h]
product: the cost of an evaluation is the same for an item and for a tree node.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass
class QueryState:
    q: np.ndarray  # [d]
    a: np.ndarray  # [h]  Wq q + b
    m: np.ndarray  # [h, d]  Wv + Wx diag(q)


@dataclass
class PairMLP:
    wq: np.ndarray  # [h, d]
    wv: np.ndarray  # [h, d]
    wx: np.ndarray  # [h, d]
    b: np.ndarray  # [h]
    w2: np.ndarray  # [h]
    lam: float = 1.0
    scale: float = 1.0  # g is divided by it (the study sets it so std g = std <q, v>)

    @property
    def hidden(self) -> int:
        return len(self.b)

    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.wq, self.wv, self.wx, self.b, self.w2))

    def query_state(self, q: np.ndarray) -> QueryState:
        q = np.asarray(q, dtype=np.float32)
        return QueryState(q, self.wq @ q + self.b, self.wv + self.wx * q[None, :])

    def score(self, state: QueryState, vectors: np.ndarray) -> np.ndarray:
        """Scores of one query against rows of ``vectors`` ([m, d] -> [m])."""
        s = vectors @ state.q
        if self.lam:
            hidden = vectors @ state.m.T
            hidden += state.a
            np.maximum(hidden, 0.0, out=hidden)
            s = s + np.float32(self.lam / self.scale) * (hidden @ self.w2)
        return s

    def nonlinear_part(self, queries: np.ndarray, vectors: np.ndarray, chunk: int = 8192) -> np.ndarray:
        """g(q, v) for all pairs ([Q, d] x [n, d] -> [Q, n]), before lam and scale (torch, batched)."""
        with torch.no_grad():
            q = torch.as_tensor(np.asarray(queries, dtype=np.float32))
            h, d = self.wq.shape
            a = (q @ torch.from_numpy(self.wq).T + torch.from_numpy(self.b))[:, :, None]  # [Q, h, 1]
            m = (torch.from_numpy(self.wv)[None] + torch.from_numpy(self.wx)[None] * q[:, None, :]).reshape(-1, d)
            w2 = torch.from_numpy(self.w2)[None, None, :]
            out = torch.empty(len(q), len(vectors))
            for start in range(0, len(vectors), chunk):
                v = torch.from_numpy(np.ascontiguousarray(vectors[start:start + chunk], dtype=np.float32))
                hidden = (m @ v.T).view(len(q), h, -1).add_(a).relu_()
                out[:, start:start + len(v)] = (w2 @ hidden)[:, 0]
            return out.numpy()

    def score_all(self, queries: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        """Scores of every (query, vector) pair, batched ([Q, d] x [n, d] -> [Q, n])."""
        s = np.asarray(queries, dtype=np.float32) @ np.asarray(vectors, dtype=np.float32).T
        if self.lam:
            s += np.float32(self.lam / self.scale) * self.nonlinear_part(queries, vectors)
        return s


def random_pair_mlp(dim: int, hidden: int, rng: np.random.Generator, lam: float = 1.0) -> PairMLP:
    """A fixed random scorer (weights ~ N(0, 1/fan_in), biases ~ N(0, 0.25))."""
    w = lambda *shape: (rng.normal(size=shape) / np.sqrt(shape[-1])).astype(np.float32)
    return PairMLP(w(hidden, dim), w(hidden, dim), (w(hidden, dim) * np.sqrt(dim)).astype(np.float32),
                   (0.5 * rng.normal(size=hidden)).astype(np.float32), w(hidden), lam)


class TorchPairMLP(nn.Module):
    """The same form with trainable weights (node models); :meth:`export` gives the numpy scorer."""

    def __init__(self, dim: int, hidden: int = 32):
        super().__init__()
        self.wq = nn.Linear(dim, hidden)
        self.wv = nn.Linear(dim, hidden, bias=False)
        self.wx = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, 1, bias=False)

    def forward(self, q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """[B, d] x [B, d] -> [B] (or broadcast [B, 1, d] x [B, m, d] -> [B, m])."""
        hidden = torch.relu(self.wq(q) + self.wv(v) + self.wx(q * v))
        return (q * v).sum(-1) + self.w2(hidden).squeeze(-1)

    def export(self) -> PairMLP:
        t = lambda p: p.detach().cpu().numpy().astype(np.float32)
        return PairMLP(t(self.wq.weight), t(self.wv.weight), t(self.wx.weight), t(self.wq.bias),
                       t(self.w2.weight)[0], lam=1.0, scale=1.0)
