"""Colours and small helpers shared by the figure builders."""
from __future__ import annotations

import plotly.express as px
import plotly.graph_objects as go

GENRE_PALETTE = px.colors.qualitative.Dark24 + px.colors.qualitative.Light24
HIT_COLOUR = "#1a9850"
MISS_COLOUR = "#d73027"
KEPT_COLOUR = "#f46d43"
MUTED = "#c8c8c8"


def genre_colour(index: int) -> str:
    return GENRE_PALETTE[index % len(GENRE_PALETTE)]


def base_layout(fig: go.Figure, title: str | None = None, height: int = 520) -> go.Figure:
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                      template="plotly_white", legend=dict(itemsizing="constant"))
    return fig


def shorten(text: str, n: int = 38) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
