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
