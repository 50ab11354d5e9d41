"""Figures of the scale study (``recall_core.scale``): pure functions from its report to Plotly figures."""
from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..scale.study import mean_curve, pareto
from .common import base_layout

SCALE_COLOURS = {"brute_force": "#444444", "tdm": "#1f77b4", "dr": "#2ca02c", "nann": "#d62728",
                 "nann_rp": "#ff9896", "kmedoids_tree": "#9467bd", "tdm_untrained": "#aec7e8",
                 "dr_untrained": "#98df8a"}


def _lam_title(lam: float, overlap: float | None) -> str:
    kind = "inner product" if lam == 0 else "non-linear"
    extra = f" · top-50 shared with <q,v>: {overlap:.0%}" if overlap is not None and lam else ""
    return f"λ = {lam:g} ({kind}{extra})"


def cost_to_reach_figure(report: dict, threshold: float = 0.95, measure: str = "evaluations") -> go.Figure:
    """Per λ, the evaluations (or ms) per query each index needs to reach ``threshold`` of the exact top-50,
    against the catalogue size (log-log); brute force is the reference. Unreached sizes are left out."""
    lams = sorted({w["lam"] for w in report["worlds"]})
    overlap = {w["lam"]: w["ip_overlap"] for w in report["worlds"]}
    fig = make_subplots(rows=1, cols=len(lams), subplot_titles=[_lam_title(l, overlap.get(l)) for l in lams],
                        shared_yaxes=True)
    rows = [r for r in report["thresholds"] if r["threshold"] == threshold]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    for col, lam in enumerate(lams, start=1):
        for method in methods:
            mine = sorted((r for r in rows if r["method"] == method and r["lam"] == lam), key=lambda r: r["n"])
            hit = [r for r in mine if r["reached"]]
            fig.add_trace(go.Scatter(
                x=[r["n"] for r in hit], y=[r[measure] for r in hit], mode="lines+markers", name=method,
                legendgroup=method, showlegend=col == 1, line=dict(color=SCALE_COLOURS.get(method, "#888888"),
                                                                  dash="dot" if "untrained" in method else None),
                customdata=[[r["setting"] if not isinstance(r["setting"], list) else tuple(r["setting"]),
                             r.get("speedup") or 0] for r in hit],
                hovertemplate=f"{method} · n=%{{x:,}}<br>{measure} %{{y:,.1f}} · setting %{{customdata[0]}}"
                              f"<br>×%{{customdata[1]:.1f}} faster than brute force<extra></extra>"), row=1, col=col)
    fig.update_xaxes(type="log", title="items in the catalogue")
    fig.update_yaxes(type="log", title=f"{measure} per query to reach {threshold:.2f}", col=1)
    fig.update_yaxes(type="log")
    fig = base_layout(fig, height=440)
    fig.update_layout(margin=dict(t=50))
    return fig


def frontier_figure(report: dict, n: int, lam: float, measure: str = "evaluations") -> go.Figure:
    """Recall vs the exact top-50 against cost per query at one size: each index's Pareto frontier over its
    swept settings (mean over seeds), with the three thresholds as dotted lines."""
    fig = go.Figure()
    sweeps = [r for r in report["sweeps"] if r["n"] == n and r["lam"] == lam]
    for method in dict.fromkeys(r["method"] for r in sweeps):
        front = pareto(mean_curve([r for r in sweeps if r["method"] == method]))
        fig.add_trace(go.Scatter(
            x=[p[measure] for p in front], y=[p["recall"] for p in front], mode="lines+markers", name=method,
            line=dict(color=SCALE_COLOURS.get(method, "#888888"), dash="dot" if "untrained" in method else None),
            error_y=dict(type="data", array=[p["recall_std"] for p in front], thickness=1),
            text=[str(p["setting"]) for p in front],
            hovertemplate=f"{method} · %{{text}}<br>{measure} %{{x:,.1f}} · recall %{{y:.3f}}<extra></extra>"))
    for t in report["config"].get("thresholds", (0.90, 0.95, 0.99)):
        fig.add_hline(y=t, line_dash="dot", line_color="#bbbbbb")
    fig.update_xaxes(type="log", title=f"{measure} per query")
    fig.update_yaxes(title="recall vs the scorer's exact top-50", range=[0, 1.02])
    fig = base_layout(fig, height=420)
    fig.update_layout(legend=dict(x=0.01, y=0.98, xanchor="left", yanchor="top", bgcolor="rgba(255,255,255,0.8)"))
    return fig
