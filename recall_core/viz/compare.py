"""Figures for the Compare page and the benchmark report."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from .common import base_layout

METHOD_COLOURS = {"brute_force": "#444444", "tdm": "#1f77b4", "dr": "#2ca02c", "nann": "#d62728",
                  "sid": "#9467bd"}


def overlap_heatmap(matrix: pd.DataFrame) -> go.Figure:
    fig = go.Figure(go.Heatmap(z=matrix.values, x=list(matrix.columns), y=list(matrix.index), zmin=0, zmax=1,
                               colorscale="Blues", text=matrix.round(2).values, texttemplate="%{text}"))
    fig.update_yaxes(autorange="reversed")
    return base_layout(fig, height=360)


def segment_figure(rows: list[dict], feature: str, level: str, method_label=lambda m: m,
                   baseline: str = "two_tower", title: str | None = None) -> go.Figure:
    """Bars of recall@50 per method for one segment, with 95% intervals; the paired difference to the
    baseline (and whether its interval excludes 0) is written on each bar."""
    mine = [r for r in rows if r["feature"] == feature and r["level"] == level]
    names = [method_label(r["method"]) for r in mine]
    text = [f"{r['recall@50']:.3f}" + (f"<br>{r['diff']:+.3f} ({r['verdict']})" if "diff" in r else "")
            for r in mine]
    colours = [METHOD_COLOURS.get(r["method"], "#888888") if r["method"] != baseline else "#ff7f0e" for r in mine]
    fig = go.Figure(go.Bar(
        x=names, y=[r["recall@50"] for r in mine], marker_color=colours, text=text, textposition="inside", insidetextanchor="middle",
        error_y=dict(type="data", symmetric=False, array=[r["high"] - r["recall@50"] for r in mine],
                     arrayminus=[r["recall@50"] - r["low"] for r in mine]),
        hovertemplate="%{x}: recall@50 %{y:.3f}<extra></extra>"))
    top = max([r["high"] for r in mine], default=1.0)
    fig.update_yaxes(range=[0, min(1.0, top * 1.3 + 0.02)], title="recall@50")
    return base_layout(fig, title, height=380)
