"""Figures for the two-tower page."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ..i18n import translate
from .common import HIT_COLOUR, KEPT_COLOUR, base_layout, genre_colour


MAX_BACKGROUND = 3000  # most background items a map draws (a fixed sample beyond that)


def background_sample(n: int, limit: int = MAX_BACKGROUND, seed: int = 0) -> np.ndarray:
    """Sorted ids of the items drawn as a map's background: all of them up to ``limit``, else a fixed
    uniform sample of ``limit`` (the same for every user and every rerun, so the map does not jump)."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))


def sampled_note(shown: int, n: int, lang: str, inside: bool = False) -> dict:
    """A small line saying how many of the items are drawn: under the map, or ``inside`` its
    bottom-right corner (for animations, whose controls sit under the plot)."""
    place = dict(x=1.0, y=0.0, xanchor="right", yanchor="bottom") if inside else dict(x=0.0, y=0.0, xanchor="left",
                                                                                        yanchor="top")
    return dict(text=translate("map_sampled_title", lang, shown=shown, n=n), xref="paper", yref="paper",
                showarrow=False, font=dict(size=11, color="#666666"), **place)


def embedding_map(item_xy: np.ndarray, main_genre: np.ndarray, genre_names: list[str], titles: list[str],
                  user_xy: np.ndarray, returned: np.ndarray, hits: np.ndarray, history: np.ndarray,
                  lang: str = "zh", max_background: int = MAX_BACKGROUND) -> go.Figure:
    """Items coloured by main genre, the user's star, the returned top-K ringed (hits in green).

    Beyond ``max_background`` items the genre-coloured background is a fixed sample; the history
    and the returned items are always drawn (their own traces)."""
    fig = go.Figure()
    drawn = background_sample(len(item_xy), max_background)
    for g in np.unique(main_genre):
        sel = drawn[main_genre[drawn] == g]
        if not len(sel):
            continue
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
    base_layout(fig, height=560)
    if len(drawn) < len(item_xy):
        fig.update_layout(annotations=[sampled_note(len(drawn), len(item_xy), lang)], margin=dict(b=30))
    return fig
