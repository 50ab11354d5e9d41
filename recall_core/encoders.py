"""Building blocks shared by the models: MLPs, history pooling, item and profile features."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .data import Profiles


def mlp(sizes: list[int], last_activation: bool = False, activation=nn.ReLU) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_activation:
            layers.append(activation())
    return nn.Sequential(*layers)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the history axis of [B, L, d] values where ``mask`` [B, L] is True."""
    weights = mask.unsqueeze(-1).to(values.dtype)
    return (values * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class ItemFeatures(nn.Module):
    """Item id embedding plus a projection of its genre flags (row ``n_items`` = padding)."""

    def __init__(self, genres: np.ndarray, dim: int):
        super().__init__()
        n_items = len(genres)
        padded = np.vstack([genres, np.zeros((1, genres.shape[1]), dtype=np.float32)])
        self.register_buffer("genres", torch.as_tensor(padded, dtype=torch.float32))
        self.ids = nn.Embedding(n_items + 1, dim, padding_idx=n_items)
        self.genre_proj = nn.Linear(genres.shape[1], dim, bias=False)
        nn.init.normal_(self.ids.weight, std=0.05)

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        return self.ids(items) + self.genre_proj(self.genres[items])


class ProfileEmbedding(nn.Module):
    """Concatenated embeddings of categorical user features (gender, age, occupation)."""

    def __init__(self, profiles: Profiles, dim: int):
        super().__init__()
        self.names = sorted(profiles.codes)
        self.tables = nn.ModuleDict({n: nn.Embedding(profiles.cardinality(n), dim) for n in self.names})
        for n in self.names:
            self.register_buffer(f"codes_{n}", torch.as_tensor(profiles.codes[n]))
        self.out_dim = dim * len(self.names)

    def fields(self, users: torch.Tensor) -> torch.Tensor:
        """[B, n_fields, dim]: one embedding per feature (the token view used by NANN)."""
        return torch.stack([self.tables[n](getattr(self, f"codes_{n}")[users]) for n in self.names], dim=1)

    def forward(self, users: torch.Tensor) -> torch.Tensor:
        return self.fields(users).flatten(1)


class GRUEncoder(nn.Module):
    """Final hidden state of a GRU run over a left-padded history, oldest item first.

    Padding is skipped, not fed: each row is shifted so that its items come first and
    packed with its length, so a padded row gives exactly the state of the same history
    without padding.  An empty history gives the zero state (as :func:`masked_mean` gives 0).
    """

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.gru = nn.GRU(dim, hidden, batch_first=True)
        self.out_dim = hidden

    def forward(self, values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """[B, L, d] values, [B, L] mask of real items (a suffix of each row) -> [B, hidden]."""
        lengths = mask.sum(1)
        L = mask.shape[1]
        # left-padded -> right-padded: row b reads positions L - len_b .. L - 1, then anything
        shift = (torch.arange(L, device=mask.device)[None, :] + (L - lengths)[:, None]) % L
        right = values.gather(1, shift[..., None].expand(-1, -1, values.shape[-1]))
        packed = nn.utils.rnn.pack_padded_sequence(right, lengths.clamp(min=1).cpu(), batch_first=True,
                                                   enforce_sorted=False)
        _, last = self.gru(packed)
        return torch.where((lengths > 0)[:, None], last[-1], torch.zeros_like(last[-1]))
