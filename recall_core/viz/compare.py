"""Figures for the Compare page and the benchmark report."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .common import base_layout

GROWTH_METRICS = ("scored_per_query", "ms_per_query", "recall_vs_exact@50")
METHOD_COLOURS = {"brute_force": "#444444", "tdm": "#1f77b4", "dr": "#2ca02c", "nann": "#d62728"}


def growth_figure(rows: list[dict], titles: tuple[str, str, str] = ("evaluations per query", "ms per query",
                                                                    "recall@50 vs the scorer's exact top-50")) -> go.Figure:
    fig = make_subplots(rows=1, cols=3, subplot_titles=titles)
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        x = [r["n_items"] for r in mine]
        for col, key in enumerate(GROWTH_METRICS, start=1):
            fig.add_trace(go.Scatter(x=x, y=[r[key] for r in mine], mode="lines+markers", name=method,
                                     legendgroup=method, showlegend=col == 1,
                                     line=dict(color=METHOD_COLOURS.get(method, "#888888"))), row=1, col=col)
    fig.update_xaxes(type="log", title="n items")
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_yaxes(type="log", row=1, col=2)
    fig.update_yaxes(range=[0, 1.05], row=1, col=3)
    fig = base_layout(fig, height=420)
    fig.update_layout(margin=dict(t=40))  # room for the subplot titles, which sit above the plotting area
    return fig


def overlap_heatmap(matrix: pd.DataFrame) -> go.Figure:
    fig = go.Figure(go.Heatmap(z=matrix.values, x=list(matrix.columns), y=list(matrix.index), zmin=0, zmax=1,
                               colorscale="Blues", text=matrix.round(2).values, texttemplate="%{text}"))
    fig.update_yaxes(autorange="reversed")
    return base_layout(fig, height=360)
