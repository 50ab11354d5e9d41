"""Figures for the two-tower page."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ..i18n import translate
from .common import HIT_COLOUR, KEPT_COLOUR, base_layout, genre_colour


def embedding_map(item_xy: np.ndarray, main_genre: np.ndarray, genre_names: list[str], titles: list[str],
                  user_xy: np.ndarray, returned: np.ndarray, hits: np.ndarray, history: np.ndarray,
                  lang: str = "zh") -> go.Figure:
    """Items coloured by main genre, the user's star, the returned top-K ringed (hits in green)."""
    fig = go.Figure()
    for g in np.unique(main_genre):
        sel = np.flatnonzero(main_genre == g)
        fig.add_trace(go.Scattergl(
            x=item_xy[sel, 0], y=item_xy[sel, 1], mode="markers", name=genre_names[g],
            marker=dict(size=5, color=genre_colour(int(g)), opacity=0.55),
            text=[titles[i] for i in sel], hovertemplate="%{text}<extra>" + genre_names[g] + "</extra>"))
    history = np.asarray(history, dtype=np.int64)
    if len(history):
        fig.add_trace(go.Scattergl(
            x=item_xy[history, 0], y=item_xy[history, 1], mode="markers", name=translate("legend_history", lang),
            marker=dict(size=7, symbol="x", color="#555555"), text=[titles[i] for i in history],
            hovertemplate="%{text}<extra></extra>"))
    returned = np.asarray(returned, dtype=np.int64)
    returned = returned[returned >= 0]
    hit = np.isin(returned, hits)
    for mask, colour, key in ((~hit, KEPT_COLOUR, "legend_topk"), (hit, HIT_COLOUR, "legend_hit")):
        sel = returned[mask]
        fig.add_trace(go.Scattergl(
            x=item_xy[sel, 0], y=item_xy[sel, 1], mode="markers", name=translate(key, lang),
            marker=dict(size=11, color="rgba(0,0,0,0)", line=dict(width=2, color=colour)),
            text=[titles[i] for i in sel], hovertemplate="%{text}<extra></extra>"))
    fig.add_trace(go.Scatter(
        x=[user_xy[0]], y=[user_xy[1]], mode="markers", name=translate("legend_user", lang),
        marker=dict(size=20, symbol="star", color="gold", line=dict(width=1.5, color="black")),
        hoverinfo="name"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    return base_layout(fig, height=560)
