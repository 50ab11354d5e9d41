"""Generative retrieval with semantic IDs (TIGER: Rajput et al., NeurIPS'23, arXiv 2305.05065).

The lineage: TDM puts items on the leaves of a learned tree, DR gives each item learned paths through a
D×K lattice; here each item's path is its *semantic ID*, a tuple of codes from a quantiser
(``recall_core.sid_codes``), and a sequence-to-sequence Transformer *generates* the next item's ID.

* IDs (Sec. 3.1): an RQ-VAE (or residual k-means) turns an item embedding into L codes of K each, plus one
  code that tells colliding items apart, so an item is L + 1 tokens (``sid_codes``).
* Generator (Sec. 3.2): a Transformer encoder over the user's history written as semantic-ID tokens (each of
  the last ``max_items`` items is its L + 1 tokens; token embeddings are level-specific, plus positional
  embeddings; a first token that is the user's hashed id when ``user_buckets`` > 0, else a constant), and a
  decoder that produces the next item's tokens one level at a time, each level with its own softmax.
  Trained with teacher forcing on the protocol's sliding-window samples: the loss is -log p(ID of the target).
* Retrieval: beam search over codes constrained to the trie of existing IDs, so every finished beam is an
  item.  A user's history items are removed from the trie for that user (a prefix stays valid while an item
  not in the history lies below it), so they are never generated and never take a place in the beam.  The
  score of an item is log p(ID) = sum_l log p(c_l | history, c_<l) (the model's own softmax, not renormalised
  over the trie), the top-k of the B finished beams are returned (the knob is B).
* Cost, in the units of the other methods: at each decoder step the (beam, token) candidates the trie allows
  are scored, summed over the steps; plus ms per user.  Brute force: every item's full ID scored by
  teacher forcing (log p(ID)), exact top-k.

Not as in the paper (compact, for a 2-core CPU): a 2 + 2 layer Transformer of width 64 (4 heads, MLP 256) for
its 4 + 4 layers of width 128 (6 heads, MLP 1024); K = 16 codes per level for its 256 (1.4k items, not 10^4-10^5);
content + co-occurrence vectors for Sentence-T5 embeddings of item text; no user token by default (its 2,000
hashed buckets are an option); history items read as one position each (``history_tokens = "items"``, the sum of
the item's L + 1 code embeddings) rather than L + 1 positions each (``"codes"``, the paper's), because the
4x longer encoder input costs 3.7x the CPU time per training batch (1.2 s against 0.32 s for 256 samples).

Chosen on ml-100k validation users (seed 0, 373 users, standard error of recall@50 about 0.01; each figure is one
change to the base K = 32, rqvae, w = 0.5, dropout 0.1, "items", at its best of 8 epochs, beam recall@50 at the
best B, which equalled the model's brute-force ceiling every time; item-CF on the same users: 0.357):
base 0.375 (0.379 with 12 epochs, flat after 6) | rkmeans 0.378 | K = 16 0.379 (and fewer candidates scored:
616 against 834 per user at B = 50) | w = 0.2 0.377 | w = 0.8 0.373 | dropout 0 0.384.  All but w = 0.8 are within
noise of each other; "codes" was not trained to the end (its run was stopped at 28 minutes on the shared machine).
Hence K = 16 (cheaper at equal recall), dropout 0, rqvae (the paper's; residual k-means is level with it), w = 0.5.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data import Split, history_matrix, sliding_window_samples
from .protocol import RetrievalResult, Retriever, checked_size, exclusion_mask, ranking_metrics, \
    top_k_excluding
from .sid_codes import (QUANTISERS, Trie, codebook_usage, collision_stats, disambiguate, item_embeddings,
                        reconstruction_errors, residual_kmeans, residual_quantise, train_rqvae)
from .trace import SearchTrace, TraceStep
from .training import Progress, fit, sample_tensors, set_seed

SID_BEAMS = [50, 75, 100, 150, 200, 300]  # B: the beam's finished items are the result list (k = 50)
HISTORY_TOKENS = ("codes", "items")
MAX_DECODE = 16384  # (user, beam) rows decoded at once


@dataclass
class SIDConfig:
    SERVING: ClassVar[tuple[str, ...]] = ("beam",)  # search-time only
    levels: int = 3  # L (paper: 3)
    codebook_size: int = 16  # K (paper: 256 for 10^4-10^5 items); 16 and 32 level on validation, 16 cheaper
    quantiser: str = "rqvae"  # "rqvae" (paper) or "rkmeans" (residual k-means)
    content_weight: float = 0.5  # w: sqrt(w) content ⊕ sqrt(1 - w) collaborative in the item embedding
    cf_dim: int = 32  # collaborative part: top singular vectors of the item co-occurrences
    rq_hidden: int = 128
    rq_latent: int = 32
    rq_beta: float = 0.25  # commitment weight (paper: 0.25)
    rq_steps: int = 1500  # validation beam recall@50 (seed 0): 3000 steps 0.375, 1500 0.374, 6 s less
    rq_lr: float = 1e-3
    rq_batch: int = 512
    rq_reset_every: int = 50  # a code unused for this many steps is reset to a residual of the batch
    kmeans_iters: int = 50
    max_items: int = 20  # history items the encoder reads (paper: 20)
    history_tokens: str = "items"  # "items": one position per item, its codes' embeddings summed; "codes": L + 1 (paper)
    d_model: int = 64
    heads: int = 4
    ff: int = 256
    enc_layers: int = 2
    dec_layers: int = 2
    dropout: float = 0.0  # validation: 0.0 0.384, 0.1 0.379 (paper: 0.1)
    user_buckets: int = 0  # > 0: a user token, the user's index hashed into this many buckets (paper: 2000)
    epochs: int = 4  # the best validation epoch (beam recall@50) is kept.  With a constant lr of 1e-3, ml-100k's best
    # came at epoch 5-8 of 8 (valid 0.374 seed 0, 0.383 seed 1); with cosine decay from 2e-3 over 4 epochs: 0.379,
    # 0.386 at half the time (issue 13)
    patience: int = 2  # stop after 2 epochs without a better validation figure
    batch_size: int = 256
    epoch_samples: int = 100_000  # an epoch is at most this many samples, then validation (training.fit): a
    # no-op on ml-100k (38,551 samples); synthetic-10k (217,348), seed 0, validation beam recall@50: whole passes
    # 0.219 (404 s, one thread), 100k 0.215 (203 s), 80k 0.212 (issue 13 §4)
    lr: float = 2e-3
    lr_schedule: str = "cosine"  # or "constant"; cosine: decayed to 0 over the ``epochs`` ceiling (training.fit)
    weight_decay: float = 0.0
    beam: int = 50  # B at serving: the smallest within 0.005 of the validation ceiling (ml-100k, seed 0)


# ---------------------------------------------------------------------------- semantic IDs


def semantic_ids(split: Split, cfg: SIDConfig, seed: int = 0) -> tuple[np.ndarray, dict, dict]:
    """(IDs [n_items, L + 1], the quantiser's figures for the log, arrays for the page: embedding, codebooks)."""
    if cfg.quantiser not in QUANTISERS:
        raise ValueError(f"quantiser must be one of {QUANTISERS}, got {cfg.quantiser!r}")
    x = item_embeddings(split, cfg.content_weight, cfg.cf_dim)
    K, L = cfg.codebook_size, cfg.levels
    if cfg.quantiser == "rkmeans":
        codes, books = residual_kmeans(x, L, K, cfg.kmeans_iters, seed)
        latent, extra = x, {}
    else:
        model, extra = train_rqvae(x, L, K, hidden=cfg.rq_hidden, latent=cfg.rq_latent, beta=cfg.rq_beta,
                                   steps=cfg.rq_steps, lr=cfg.rq_lr, batch_size=cfg.rq_batch,
                                   reset_every=cfg.rq_reset_every, seed=seed)
        with torch.no_grad():
            z = model.encoder(torch.as_tensor(x))
            codes = residual_quantise(z, model.codebooks)[0].numpy()
            books = model.codebooks.detach().numpy()
            decoded = [model.decoder(torch.as_tensor(books[np.arange(l + 1)[:, None], codes[:, :l + 1].T].sum(0)))
                       for l in range(L)]
            extra["decoder_error"] = [float(((x - d.numpy()) ** 2).sum() / (x ** 2).sum()) for d in decoded]
        latent = z.numpy()
    ids = disambiguate(codes, split.item_counts)
    log = {"quantiser": cfg.quantiser, "usage": codebook_usage(codes, K), "collisions": collision_stats(codes),
           "disambiguation_codes": int(ids[:, L].max() + 1),
           "recon_error": reconstruction_errors(latent, books, codes), **extra}
    return ids, log, {"embedding": x, "latent": latent.astype(np.float32), "codebooks": books.astype(np.float32)}


def vocab_sizes(ids: np.ndarray, cfg: SIDConfig) -> list[int]:
    """Tokens per level: K for the L quantiser levels, the largest collision group for the last."""
    return [cfg.codebook_size] * cfg.levels + [int(ids[:, cfg.levels].max()) + 1]


# ---------------------------------------------------------------------------- the generator


class Attention(nn.Module):
    """Multi-head attention through ``F.scaled_dot_product_attention`` (fused on CPU; no attention-weight dropout)."""

    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q, self.kv, self.out = nn.Linear(d, d), nn.Linear(d, 2 * d), nn.Linear(d, d)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, mask: torch.Tensor | None = None,
                causal: bool = False) -> torch.Tensor:
        """x [N, t, d] attends to memory [N, s, d]; ``mask`` [N, s] True where a key may be attended to."""
        N, t, d = x.shape
        split = lambda y: y.reshape(N, y.shape[1], self.heads, d // self.heads).transpose(1, 2)  # noqa: E731
        k, v = self.kv(memory).chunk(2, -1)
        y = F.scaled_dot_product_attention(split(self.q(x)), split(k), split(v),
                                           attn_mask=None if mask is None else mask[:, None, None, :], is_causal=causal)
        return self.out(y.transpose(1, 2).reshape(N, t, d))


class EncoderLayer(nn.Module):
    """Pre-norm Transformer encoder layer; ``keep`` [U, s] marks the real (not padding) positions."""

    def __init__(self, d: int, heads: int, ff: int, dropout: float):
        super().__init__()
        self.attn = Attention(d, heads)
        self.ff = nn.Sequential(nn.Linear(d, ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff, d))
        self.norms = nn.ModuleList(nn.LayerNorm(d) for _ in range(2))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        h = self.norms[0](x)
        x = x + self.drop(self.attn(h, h, keep))
        return x + self.drop(self.ff(self.norms[1](x)))


class DecoderLayer(nn.Module):
    """Pre-norm Transformer decoder layer over [U, b, t, d]: causal self-attention within each of a user's b
    sequences, cross-attention of all b * t positions to that user's one encoded history (shared, not copied)."""

    def __init__(self, d: int, heads: int, ff: int, dropout: float):
        super().__init__()
        self.self_attn, self.cross_attn = Attention(d, heads), Attention(d, heads)
        self.ff = nn.Sequential(nn.Linear(d, ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff, d))
        self.norms = nn.ModuleList(nn.LayerNorm(d) for _ in range(3))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        U, b, t, d = x.shape
        h = self.norms[0](x).reshape(U * b, t, d)
        x = x + self.drop(self.self_attn(h, h, causal=True).reshape(U, b, t, d))
        h = self.norms[1](x).reshape(U, b * t, d)
        x = x + self.drop(self.cross_attn(h, memory, keep).reshape(U, b, t, d))
        return x + self.drop(self.ff(self.norms[2](x)))

    def step(self, x: torch.Tensor, memory: torch.Tensor, keep: torch.Tensor, past: tuple | None):
        """One new position per sequence, at inference: x [U, b, d] is position t's input and ``past`` the
        self-attention keys and values (k, v) [U, b, t, d] of positions 0..t-1 (None at t = 0).  Causal
        attention lets position t see only those, so this is :meth:`forward`'s position t without recomputing
        the earlier ones (a KV cache).  Returns position t's output [U, b, d] and (k, v) grown to t + 1."""
        U, b, d = x.shape
        a, heads = self.self_attn, self.self_attn.heads
        h = self.norms[0](x)
        k, v = (y[:, :, None] for y in a.kv(h).chunk(2, -1))
        if past is not None:
            k, v = torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)
        split = lambda y: y.reshape(U * b, y.shape[2], heads, d // heads).transpose(1, 2)  # noqa: E731
        y = F.scaled_dot_product_attention(split(a.q(h)[:, :, None]), split(k), split(v))  # [U b, H, 1, d/H]
        x = x + a.out(y.transpose(1, 2).reshape(U, b, d))
        x = x + self.cross_attn(self.norms[1](x), memory, keep)
        return x + self.ff(self.norms[2](x)), (k, v)


class SIDModel(nn.Module):
    def __init__(self, split: Split, cfg: SIDConfig, ids: np.ndarray):
        super().__init__()
        if cfg.history_tokens not in HISTORY_TOKENS:
            raise ValueError(f"history_tokens must be one of {HISTORY_TOKENS}, got {cfg.history_tokens!r}")
        self.cfg, self.pad_item = cfg, split.pad
        self.sizes = vocab_sizes(ids, cfg)
        depth, d = len(self.sizes), cfg.d_model
        offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]])
        self.pad_token = int(sum(self.sizes))
        # item -> its L + 1 tokens in the shared vocabulary (level l's code c is token offsets[l] + c); pad row
        table = np.vstack([ids + offsets, np.full((1, depth), self.pad_token)])
        self.register_buffer("item_tokens", torch.as_tensor(table, dtype=torch.long))
        self.register_buffer("offsets", torch.as_tensor(offsets, dtype=torch.long))
        self.tokens = nn.Embedding(self.pad_token + 1, d, padding_idx=self.pad_token)
        self.first = nn.Embedding(max(cfg.user_buckets, 1), d)  # the user token (one constant one without users)
        self.enc_pos = nn.Embedding(cfg.max_items * depth + 1, d)
        self.dec_pos = nn.Embedding(depth, d)
        self.bos = nn.Parameter(torch.zeros(d))
        self.encoder = nn.ModuleList(EncoderLayer(d, cfg.heads, cfg.ff, cfg.dropout) for _ in range(cfg.enc_layers))
        self.enc_norm = nn.LayerNorm(d)
        self.decoder = nn.ModuleList(DecoderLayer(d, cfg.heads, cfg.ff, cfg.dropout) for _ in range(cfg.dec_layers))
        self.dec_norm = nn.LayerNorm(d)
        self.heads = nn.ModuleList(nn.Linear(d, k) for k in self.sizes)
        for emb in (self.tokens, self.first, self.enc_pos, self.dec_pos):
            nn.init.normal_(emb.weight, std=0.02)

    @property
    def depth(self) -> int:
        return len(self.sizes)

    def encode(self, histories: torch.Tensor, users: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Left-padded item histories [U, T] -> memory [U, 1 + m (L + 1), d] and its mask (True: a real token)."""
        items = histories[:, -self.cfg.max_items:]
        tokens = self.item_tokens[items]  # [U, m, L + 1]
        if self.cfg.history_tokens == "codes":  # TIGER: every code its own position
            x, real = self.tokens(tokens.reshape(len(items), -1)), tokens.reshape(len(items), -1) != self.pad_token
        else:  # one position per item: the sum of its codes' embeddings
            x, real = self.tokens(tokens).sum(2), items != self.pad_item
        first = torch.zeros(len(items), dtype=torch.long, device=items.device) if users is None or \
            self.cfg.user_buckets == 0 else users % self.cfg.user_buckets
        x = torch.cat([self.first(first)[:, None], x], 1)
        x = x + self.enc_pos.weight[:x.shape[1]]
        keep = torch.cat([torch.ones(len(items), 1, dtype=torch.bool, device=items.device), real], 1)
        for layer in self.encoder:
            x = layer(x, keep)
        return self.enc_norm(x), keep

    def decode(self, memory: torch.Tensor, keep: torch.Tensor, prefixes: torch.Tensor) -> torch.Tensor:
        """Hidden states [U, b, t + 1, d] for codes ``prefixes`` [U, b, t] (input BOS, c_1..c_t)."""
        U, b, t = prefixes.shape
        x = self.bos.expand(U, b, 1, -1)
        if t:
            x = torch.cat([x, self.tokens(prefixes + self.offsets[:t])], 2)
        x = x + self.dec_pos.weight[:t + 1]
        for layer in self.decoder:
            x = layer(x, memory, keep)
        return self.dec_norm(x)

    def decode_next(self, memory, keep, tokens: torch.Tensor | None, past: list | None):
        """Hidden states [U, b, d] at position t for b sequences per user whose positions 0..t-1 are cached in
        ``past`` (per decoder layer (k, v) [U, b, t, d]; None at t = 0, where ``tokens`` is None: the BOS input),
        ``tokens`` [U, b] the codes c_t input at position t.  Returns them and the cache grown to t + 1.  The same
        states as :meth:`decode`'s position t (tested), at the cost of one position instead of t + 1."""
        t = 0 if past is None else past[0][0].shape[2]
        if tokens is None:
            x = self.bos.expand(len(memory), 1, -1)
        else:
            x = self.tokens(tokens + self.offsets[t - 1])
        x = x + self.dec_pos.weight[t]
        grown = []
        for i, layer in enumerate(self.decoder):
            x, kv = layer.step(x, memory, keep, None if past is None else past[i])
            grown.append(kv)
        return self.dec_norm(x), grown

    def id_log_probs(self, memory, keep, ids: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: log p(ID) of full IDs ``ids`` [U, b, L + 1] -> [U, b]."""
        h = self.decode(memory, keep, ids[..., :-1])
        return sum(F.log_softmax(self.heads[l](h[:, :, l]), -1).gather(-1, ids[..., l:l + 1]).squeeze(-1)
                   for l in range(self.depth))


# ---------------------------------------------------------------------------- retrieval


def constrained_beam(model: SIDModel, trie: Trie, memory, keep, excluded: torch.Tensor, beam: int,
                     record: bool = False, tables: list[torch.Tensor] | None = None):
    """Beam search over codes on the trie of IDs with the user's ``excluded`` items [U, n] removed.

    Returns items [U, B'] (-1 where no beam), their log p(ID) [U, B'], the generated tokens [U, B', L + 1],
    candidates scored per user [U], and (if ``record``) per step the valid (beam, token) candidates, their
    children in the trie, their cumulative scores and the kept nodes.  ``tables``: these users' next-code
    log-probabilities at every trie node (:meth:`SemanticIDRetriever.step_tables`), read instead of running the
    decoder (``memory`` and ``keep`` unused): the same search, for the budget curve's many beams."""
    U, dev = len(excluded), excluded.device
    remaining = [torch.as_tensor(trie.under[l], device=dev).expand(U, -1) -
                 torch.zeros(U, len(trie.under[l]), device=dev, dtype=torch.long).index_add_(
                     1, torch.as_tensor(trie.item_node[l], device=dev), excluded.long())
                 for l in range(trie.depth + 1)]
    nodes = torch.zeros(U, 1, dtype=torch.long, device=dev)
    logp = torch.where(remaining[0][:, :1] > 0, 0.0, -torch.inf)
    prefixes = torch.zeros(U, 1, 0, dtype=torch.long, device=dev)
    scored = torch.zeros(U, dtype=torch.long, device=dev)
    steps = []
    past, tokens = None, None  # the decoder's KV cache of the beams' prefixes, their last codes
    for l in range(trie.depth):
        if tables is None:
            h, past = model.decode_next(memory, keep, tokens, past)
            step = F.log_softmax(model.heads[l](h), -1)  # log p(c_{l+1} | history, prefix): [U, b, K_l]
        else:
            step = tables[l][torch.arange(U, device=dev)[:, None], nodes.clamp(min=0)]
        child = torch.as_tensor(trie.child[l], device=dev)[nodes]  # [U, b, K_l]
        valid = (child >= 0) & torch.isfinite(logp)[..., None]
        valid &= remaining[l + 1].gather(1, child.clamp(min=0).reshape(U, -1)).reshape(child.shape) > 0
        scored += valid.sum((1, 2))
        total = torch.where(valid, logp[..., None] + step, -torch.inf).reshape(U, -1)
        K = step.shape[-1]
        top, idx = torch.topk(total, min(beam, total.shape[1]), dim=1)
        parent, token = idx // K, idx % K
        new_nodes = child.reshape(U, -1).gather(1, idx)
        if record:
            steps.append({"valid": valid, "child": child, "total": total, "kept": torch.where(
                torch.isfinite(top), new_nodes, -1), "before": nodes, "alive_before": torch.isfinite(logp)})
        prefixes = torch.cat([prefixes.gather(1, parent[..., None].expand(-1, -1, l)), token[..., None]], 2)
        if past is not None:
            past = [tuple(y.gather(1, parent[:, :, None, None].expand(-1, -1, *y.shape[2:])) for y in kv)
                    for kv in past]
        nodes, logp, tokens = torch.where(torch.isfinite(top), new_nodes, -1), top, token
    return nodes, logp, prefixes, scored, steps


class SemanticIDRetriever(Retriever):
    method = "sid"

    def __init__(self, model: SIDModel, split: Split, cfg: SIDConfig, ids: np.ndarray, device=torch.device("cpu"),
                 log: dict | None = None, arrays: dict | None = None):
        self.model, self.split, self.cfg, self.device, self.log = model.eval(), split, cfg, device, log or {}
        self.n_items = split.n_items
        self.ids = np.asarray(ids, dtype=np.int64)
        self.trie = Trie.build(self.ids, model.sizes)
        self.arrays = arrays or {}

    @property
    def coded_vectors(self) -> np.ndarray:
        """The vectors the quantiser coded (the RQ-VAE's latent z; the item embedding for residual k-means): the
        page's codebook map is their projection."""
        return self.arrays["latent"]

    def _tensors(self, histories, users):
        h = torch.as_tensor(history_matrix(histories, self.cfg.max_items, self.split.pad), device=self.device)
        u = None if users is None else torch.as_tensor(np.asarray(users), device=self.device)
        return h, u

    def encode(self, histories, users=None):
        with torch.no_grad():
            return self.model.encode(*self._tensors(histories, users))

    def retrieve(self, histories, k, trace=False, users=None, beam: int | None = None):
        beam = checked_size("beam", beam if beam is not None else self.cfg.beam, 1, 1 << 20)
        k = checked_size("k", k)
        start = time.perf_counter()
        chunk = max(1, MAX_DECODE // beam)
        parts = []
        with torch.no_grad():
            for s in range(0, len(histories), chunk):
                part = histories[s:s + chunk]
                memory, keep = self.model.encode(*self._tensors(part, None if users is None else users[s:s + chunk]))
                parts.append(constrained_beam(self.model, self.trie, memory, keep,
                                              exclusion_mask(part, self.n_items).to(self.device), beam, trace))
        elapsed = time.perf_counter() - start
        width = max((p[0].shape[1] for p in parts), default=0)
        items = np.full((len(histories), max(k, width)), -1, dtype=np.int64)
        scores = np.full(items.shape, -np.inf, dtype=np.float32)
        row = 0
        for nodes, logp, _, _, _ in parts:
            items[row:row + len(nodes), :nodes.shape[1]] = nodes.cpu().numpy()
            scores[row:row + len(nodes), :nodes.shape[1]] = logp.cpu().numpy()
            row += len(nodes)
        n_scored = np.concatenate([p[3].cpu().numpy() for p in parts] + [np.zeros(0, dtype=np.int64)])
        items, scores = items[:, :k], scores[:, :k]
        traces = None
        if trace:
            traces = [t for p, s in zip(parts, range(0, len(histories), chunk))
                      for t in self._traces(p[4], items[s:s + chunk], scores[s:s + chunk], n_scored[s:s + chunk], beam)]
        return RetrievalResult(items, scores, n_scored, traces, extras={"search_seconds": elapsed})

    def _traces(self, steps, items, scores, n_scored, beam) -> list[SearchTrace]:
        """One TraceStep per decoder step: ``scored`` = the level-(l+1) trie nodes the trie allows below the beam
        (at the last step the nodes are the items), ``scores`` their cumulative probability p(prefix), ``kept`` the
        beam's nodes; info: the scored nodes' codes and parents, and what the trie pruned."""
        out = []
        L1 = self.trie.depth
        for u in range(len(items)):
            trace_steps = []
            for l, s in enumerate(steps):
                valid, child, total = s["valid"][u], s["child"][u], s["total"][u].reshape(s["valid"][u].shape)
                alive = s["alive_before"][u]
                b_idx, t_idx = torch.nonzero(valid, as_tuple=True)
                nodes = child[b_idx, t_idx].cpu().numpy()
                parents = s["before"][u][b_idx].cpu().numpy()
                in_trie = int(((child >= 0) & alive[:, None]).sum())
                kept = s["kept"][u].cpu().numpy()
                kept = kept[kept >= 0]
                stage = f"code {l + 1}" if l < L1 - 1 else "disambiguation"
                trace_steps.append(TraceStep(stage, l + 1, nodes, total[b_idx, t_idx].exp().cpu().numpy().astype(np.float32),
                                             kept, info={
                    "prefixes": self.trie.prefixes[l + 1][nodes], "parents": parents,
                    "kept_prefixes": self.trie.prefixes[l + 1][kept], "beam_in": int(alive.sum()),
                    "tokens": int(valid.shape[1]), "outputs": int(alive.sum()) * int(valid.shape[1]),
                    "not_in_trie": int(alive.sum()) * int(valid.shape[1]) - in_trie,
                    "history_pruned": in_trie - len(nodes), "scored": len(nodes)}))
            found = items[u] >= 0
            out.append(SearchTrace(self.method, trace_steps, items[u][found], scores[u][found], int(n_scored[u]),
                                   info={"beam": beam, "ids": self.ids[items[u][found]]}))
        return out

    def step_tables(self, histories, users=None):
        """Yields, per group of users, (their slice, [per level l: log p(c_{l+1} | history, prefix) at every
        level-l trie node, [U, n_l, K_l]]).  The decoder is causal, so it runs down the trie level by level: each
        trie node (a distinct prefix BOS, c_1..c_l) is decoded once, one new position on its parent's KV cache
        (:meth:`SIDModel.decode_next`).  About n_items positions per user instead of (L + 1) per distinct L-code
        prefix; brute force sums them along each item's ID, and a beam of any width can read them."""
        trie, L1 = self.trie, self.trie.depth
        parent, token = self._trie_links
        per = max(1, MAX_DECODE // len(trie.prefixes[L1 - 1]))
        with torch.no_grad():
            for s in range(0, len(histories), per):
                memory, keep = self.model.encode(*self._tensors(histories[s:s + per],
                                                               None if users is None else users[s:s + per]))
                past, tables = None, []
                for l in range(L1):
                    tokens = None
                    if l:
                        past = [tuple(y[:, parent[l]] for y in kv) for kv in past]
                        tokens = token[l].expand(len(memory), -1)
                    h, past = self.model.decode_next(memory, keep, tokens, past)
                    tables.append(F.log_softmax(self.model.heads[l](h), -1))  # [U, n_l, K_l]
                yield slice(s, s + len(memory)), tables

    def _log_probs_from(self, tables: list[torch.Tensor]) -> torch.Tensor:
        """[U, n_items] log p(ID) of every item: the sum of its codes' log-probabilities down the trie."""
        trie, L1 = self.trie, self.trie.depth
        parent, token = self._trie_links
        prefix_logp = torch.zeros(len(tables[0]), 1, device=tables[0].device)
        for l in range(1, L1):
            prefix_logp = prefix_logp[:, parent[l]] + tables[l - 1][:, parent[l], token[l]]
        last = torch.as_tensor(trie.item_node[L1 - 1], device=self.device)  # each item's level-L node
        return prefix_logp[:, last] + tables[L1 - 1][:, last, torch.as_tensor(self.ids[:, L1 - 1], device=self.device)]

    def item_log_probs(self, histories, users=None) -> torch.Tensor:
        """[U, n_items] log p(ID of every item | history) by teacher forcing: the brute force's scores
        (:meth:`step_tables`)."""
        out = [self._log_probs_from(tables) for _, tables in self.step_tables(histories, users)]
        return torch.cat(out) if out else torch.zeros(0, self.n_items)

    def curve_and_ceiling(self, held, beams: list[int], k: int = 50) -> tuple[list[dict], float]:
        """The budget curve (recall@k and candidates scored per user at each beam) and brute force's recall@k on
        ``held``, from one pass of :meth:`step_tables`: every beam reads the tables instead of decoding again
        (ml-100k validation, curve and brute force: 12 s -> 5 s).  The same searches as :meth:`retrieve` up to float
        rounding (the decoder runs on other batch shapes), which can swap near-tied items."""
        beams = [checked_size("beam", b, 1, 1 << 20) for b in beams]
        found = {b: np.full((len(held.inputs), k), -1, dtype=np.int64) for b in beams}
        scored = {b: np.zeros(len(held.inputs)) for b in beams}
        brute = np.full((len(held.inputs), k), -1, dtype=np.int64)
        for part, tables in self.step_tables(held.inputs, held.users):
            histories = held.inputs[part]
            excluded = exclusion_mask(histories, self.n_items).to(self.device)
            brute[part] = top_k_excluding(self._log_probs_from(tables), histories, k)[0]
            for b in beams:
                nodes, _, _, n, _ = constrained_beam(self.model, self.trie, None, None, excluded, b, tables=tables)
                width = min(k, nodes.shape[1])
                found[b][part, :width] = nodes[:, :width].cpu().numpy()
                scored[b][part] = n.cpu().numpy()
        rows = [{"beam": b, "scored_per_user": float(scored[b].mean()),
                 f"recall@{k}": ranking_metrics(found[b], held.truths, (k,))[f"recall@{k}"]} for b in beams]
        return rows, ranking_metrics(brute, held.truths, (k,))[f"recall@{k}"]

    @functools.cached_property
    def _trie_links(self) -> tuple[list, list]:
        """Per level l >= 1 (index 0 unused): each trie node's parent at level l - 1 and the code c_l that leads to
        it, as tensors on the device."""
        levels = range(1, self.trie.depth)
        parent = [None] + [torch.as_tensor(self._parents(l), device=self.device) for l in levels]
        token = [None] + [torch.as_tensor(self.trie.prefixes[l][:, l - 1], device=self.device) for l in levels]
        return parent, token

    def _parents(self, level: int) -> np.ndarray:
        """Each level-``level`` trie node's parent node at ``level`` - 1."""
        parent = np.zeros(len(self.trie.prefixes[level]), dtype=np.int64)
        parent[self.trie.item_node[level]] = self.trie.item_node[level - 1]
        return parent

    def brute_force(self, histories, k, users=None):
        start = time.perf_counter()
        items, top = top_k_excluding(self.item_log_probs(histories, users), histories, k)
        return RetrievalResult(items, top, np.full(len(histories), self.n_items),
                               extras={"search_seconds": time.perf_counter() - start})

    def extra_metrics(self, held, k):
        q = self.log.get("quantiser_stats", {})
        out = {"beam": self.cfg.beam, "K": self.cfg.codebook_size, "L": self.cfg.levels, "quantiser": self.cfg.quantiser}
        if q:
            out.update({"collisions": q["collisions"]["colliding_items"], "unique_tuples": q["collisions"]["unique_tuples"],
                        "codes_used": [u["used"] for u in q["usage"]]})
        if "generator" in self.log:
            out["best_epoch"] = self.log["generator"]["best_epoch"]
        return out


# ---------------------------------------------------------------------------- training


def recall_at_50(items: np.ndarray, held) -> float:
    return ranking_metrics(items, held.truths, (50,))["recall@50"]


def train_sid(split: Split, cfg: SIDConfig = SIDConfig(), seed: int = 0, device=torch.device("cpu"),
              progress: Progress | None = None) -> SemanticIDRetriever:
    """Semantic IDs first (the quantiser), then the generator by teacher forcing; the epoch with the best
    validation recall@50 of the beam (at ``cfg.beam``) is kept."""
    rng = set_seed(seed)
    start = time.perf_counter()
    if progress:
        progress(0.0, f"semantic IDs ({cfg.quantiser})")
    ids, q_log, arrays = semantic_ids(split, cfg, seed)
    q_log["seconds"] = time.perf_counter() - start
    model = SIDModel(split, cfg, ids).to(device)
    samples = sliding_window_samples(split)
    hist, users, targets = sample_tensors(samples, device)
    target_ids = torch.as_tensor(ids, device=device)[targets]
    use_users = cfg.user_buckets > 0

    def loss_of_batch(idx: np.ndarray) -> torch.Tensor:
        i = torch.as_tensor(idx, device=device)
        memory, keep = model.encode(hist[i], users[i] if use_users else None)
        return -model.id_log_probs(memory, keep, target_ids[i][:, None, :]).mean()

    def validate() -> float:
        probe = SemanticIDRetriever(model, split, cfg, ids, device)
        return recall_at_50(probe.retrieve(split.valid.inputs, 50, users=split.valid.users).items, split.valid)

    gen_log = fit(model, loss_of_batch, len(samples), epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                  weight_decay=cfg.weight_decay, rng=rng, validate=validate, progress=progress,
                  label="SID generator", patience=cfg.patience, schedule=cfg.lr_schedule,
                  epoch_samples=cfg.epoch_samples).as_dict()
    model.eval()
    log = {"quantiser_stats": q_log, "generator": gen_log,
           "train_seconds": float(q_log["seconds"] + gen_log["train_seconds"])}
    final = SemanticIDRetriever(model, split, cfg, ids, device, log, arrays)
    log["budget_curve"], log["bruteforce_recall@50"] = final.curve_and_ceiling(split.valid, SID_BEAMS)  # validation
    return final


def sid_state(retriever: SemanticIDRetriever) -> tuple[dict, dict]:
    return retriever.model.state_dict(), {"ids": retriever.ids, **retriever.arrays}


def restore_sid(split: Split, cfg: SIDConfig, payload: dict, device) -> SemanticIDRetriever:
    a = payload["arrays"]
    model = SIDModel(split, cfg, a["ids"])
    model.load_state_dict(payload["state"])
    return SemanticIDRetriever(model.to(device), split, cfg, a["ids"], device, payload["log"],
                               {k: v for k, v in a.items() if k != "ids"})
