"""Budget curves: recall against model evaluations per user, one point per setting of a search knob."""
from __future__ import annotations

import plotly.graph_objects as go

from ..i18n import translate
from .common import MUTED, base_layout, genre_colour


def budget_curve_figure(curves: dict[str, list[dict]], knob_labels: dict[str, str], ceilings: dict[str, float],
                        lang: str = "zh", k: int = 50) -> go.Figure:
    """``curves`` maps a method name to rows {knob: value, scored_per_user, recall@k}; each method's
    brute-force recall (its ceiling) is drawn as a dashed line of the same colour.

    One curve: every point is labelled with its knob value.  Several: the labels would pile up where
    the curves meet their ceilings, so the values move to the hover and the ceilings join the legend."""
    fig = go.Figure()
    single = len(curves) == 1
    xs = [r["scored_per_user"] for rows in curves.values() for r in rows]
    span = [min(xs), max(xs)] if xs else [1, 1]
    ceiling_label = translate("brute_force_line", lang)
    for i, (name, rows) in enumerate(curves.items()):
        knob = knob_labels[name]
        colour = genre_colour(i)
        labels = [f"{knob}={r[knob]}" for r in rows]
        fig.add_trace(go.Scatter(
            x=[r["scored_per_user"] for r in rows], y=[r[f"recall@{k}"] for r in rows],
            mode="lines+markers+text" if single else "lines+markers", text=labels, textposition="top center",
            name=name, legendgroup=name, line=dict(color=colour),
            hovertemplate=f"{name} · %{{text}}<br>%{{x:.0f}} · recall@{k} %{{y:.3f}}<extra></extra>"))
        if name in ceilings:
            if single:
                fig.add_hline(y=ceilings[name], line_dash="dash", line_color=MUTED,
                              annotation_text=f"{name}: {ceiling_label}", annotation_position="bottom right")
            else:
                fig.add_trace(go.Scatter(
                    x=span, y=[ceilings[name]] * 2, mode="lines", name=f"{name}: {ceiling_label}",
                    legendgroup=name, showlegend=False, line=dict(color=colour, dash="dash", width=1),
                    hovertemplate=f"{name}: {ceiling_label} %{{y:.3f}}<extra></extra>"))
    fig.update_xaxes(title=translate("axis_scored", lang), type="log")
    fig.update_yaxes(title=f"recall@{k}")
    return base_layout(fig, height=400)
