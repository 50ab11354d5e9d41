"""Budget curves: recall against model evaluations per user, one point per setting of a search knob."""
from __future__ import annotations

import plotly.graph_objects as go

from ..i18n import translate
from .common import MUTED, base_layout, genre_colour


def budget_curve_figure(curves: dict[str, list[dict]], knob_labels: dict[str, str], ceilings: dict[str, float],
                        lang: str = "zh", k: int = 50) -> go.Figure:
    """``curves`` maps a method name to rows {knob: value, scored_per_user, recall@k}; each method's
    brute-force recall (its ceiling) is drawn as a dashed line of the same colour."""
    fig = go.Figure()
    for i, (name, rows) in enumerate(curves.items()):
        knob = knob_labels[name]
        colour = genre_colour(i)
        fig.add_trace(go.Scatter(
            x=[r["scored_per_user"] for r in rows], y=[r[f"recall@{k}"] for r in rows], mode="lines+markers+text",
            text=[f"{knob}={r[knob]}" for r in rows], textposition="top center", name=name,
            line=dict(color=colour)))
        if name in ceilings:
            fig.add_hline(y=ceilings[name], line_dash="dash", line_color=colour if len(curves) > 1 else MUTED,
                          annotation_text=f"{name}: {translate('brute_force_line', lang)}",
                          annotation_position="bottom right")
    fig.update_xaxes(title=translate("axis_scored", lang), type="log")
    fig.update_yaxes(title=f"recall@{k}")
    return base_layout(fig, height=400)
