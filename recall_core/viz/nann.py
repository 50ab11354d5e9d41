"""Figures for the NANN page: the HNSW layers over a 2-D map of e_v, and a search animated hop by hop."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ..hnsw_graph import HnswGraph
from ..i18n import translate
from ..trace import SearchTrace
from .common import HIT_COLOUR, KEPT_COLOUR, MISS_COLOUR, animation_controls, base_layout, genre_colour, note_box
from .two_tower import MAX_BACKGROUND, background_sample, sampled_note


def _segments(xy: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if not len(edges):
        return np.zeros(0), np.zeros(0)
    a, b = xy[edges[:, 0]], xy[edges[:, 1]]
    nan = np.full(len(edges), np.nan)
    return np.column_stack([a[:, 0], b[:, 0], nan]).ravel(), np.column_stack([a[:, 1], b[:, 1], nan]).ravel()


def graph_layer_map(xy: np.ndarray, graph: HnswGraph, level: int, main_genre: np.ndarray, genre_names: list[str],
                    titles: list[str], lang: str = "zh", max_edges: int = 6000,
                    max_background: int = MAX_BACKGROUND) -> go.Figure:
    """Items at their 2-D position (UMAP of e_v); the edges of one HNSW layer; that layer's nodes enlarged.

    Beyond ``max_background`` items the background is a fixed sample; the layer's nodes are always
    drawn when there are no more than that (every layer above 0), and only edges between drawn items."""
    members = graph.nodes_at(level)
    drawn = background_sample(len(xy), max_background)
    if len(members) <= max_background:
        drawn = np.union1d(drawn, members)
    drawn = np.union1d(drawn, [graph.entry_point])
    edges = graph.edges(level)
    edges = edges[edges[:, 0] < edges[:, 1]] if level == 0 else edges  # one segment per undirected pair
    if len(drawn) < len(xy):
        edges = edges[np.isin(edges, drawn).all(1)]
    if len(edges) > max_edges:
        edges = edges[np.random.default_rng(0).choice(len(edges), max_edges, replace=False)]
    ex, ey = _segments(xy, edges)
    fig = go.Figure([go.Scattergl(x=ex, y=ey, mode="lines", line=dict(width=0.5, color="rgba(120,120,120,0.35)"),
                                  hoverinfo="skip", name=translate("nann_legend_edges", lang, level=level))])
    for g in np.unique(main_genre):
        sel = drawn[main_genre[drawn] == g]
        if not len(sel):
            continue
        big = np.isin(sel, members)
        fig.add_trace(go.Scattergl(
            x=xy[sel, 0], y=xy[sel, 1], mode="markers", name=genre_names[g],
            marker=dict(size=np.where(big, 9, 4), color=genre_colour(int(g)), opacity=0.8),
            text=[titles[i] for i in sel], hovertemplate="%{text}<extra>" + genre_names[g] + "</extra>"))
    entry = graph.entry_point
    fig.add_trace(go.Scatter(x=[xy[entry, 0]], y=[xy[entry, 1]], mode="markers", name=translate("nann_entry", lang),
                             marker=dict(size=16, symbol="diamond", color="gold", line=dict(width=1.5, color="black")),
                             text=[titles[entry]], hovertemplate="%{text}<extra></extra>"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    base_layout(fig, height=520)
    if len(drawn) < len(xy):
        fig.update_layout(annotations=[sampled_note(len(drawn), len(xy), lang)], margin=dict(b=30))
    return fig


def search_animation(xy: np.ndarray, trace: SearchTrace, titles: list[str], genre_text: list[str],
                     truth: np.ndarray, n_items: int, lang: str = "zh", brute: np.ndarray | None = None,
                     height: int = 640, max_background: int = MAX_BACKGROUND) -> go.Figure:
    """One frame per step of Algorithm 1-2 (plus start and result).

    Frame i: the edges followed from the expanded set C to the newly scored neighbours, those
    neighbours coloured by the model's score, the kept set W ringed; items scored in earlier
    steps stay as dark dots.  The last frame marks the returned top-K (green = hit) and, with
    ``brute``, the brute-force top-K items the graph search missed (red crosses).  Beyond
    ``max_background`` items the grey background is a fixed sample; every item the search visits
    is drawn in its own traces (scored this hop, scored before, W, the result), whatever the size.
    """
    steps = trace.steps
    entry = trace.info["entry_point"]
    so_far = trace.scored_so_far()

    def hover(ids, scores=None, level=None):
        out = []
        for j, i in enumerate(np.asarray(ids).tolist()):
            extra = f"<br>{translate('hover_score', lang)}: {scores[j]:.3f}" if scores is not None else ""
            lay = f"<br>{translate('nann_hover_layer', lang, level=level)}" if level is not None else ""
            out.append(f"<b>{titles[i]}</b><br>{genre_text[i]}{extra}{lay}")
        return out

    def frame(i: int) -> tuple[list, str]:
        if i == 0:
            return ([
                go.Scattergl(x=[], y=[]), go.Scattergl(x=[], y=[]),
                go.Scattergl(x=[], y=[], marker=dict(color=[])),
                go.Scattergl(x=[xy[entry, 0]], y=[xy[entry, 1]], hovertext=hover([entry])),
                go.Scattergl(x=[], y=[], marker=dict(color=[])),
            ], translate("nann_step_start", lang, level=trace.info["max_level"], n=n_items))
        if i <= len(steps):
            step = steps[i - 1]
            previous = steps[i - 2].kept if i > 1 else np.array([entry])
            expanded = step.info.get("expanded", previous)
            earlier = np.unique(np.concatenate([s.scored for s in steps[: i - 1]] + [np.array([entry])]))
            edge_list = _expansion_edges(expanded, step.scored, step.info.get("parents"))
            ex, ey = _segments(xy, edge_list)
            text = translate("nann_step", lang, level=step.level, n=len(step.scored), w=len(step.kept),
                             c=len(step.info.get("new_in_w", [])), total=so_far[i - 1] + 1, items=n_items,
                             frac=(so_far[i - 1] + 1) / n_items)
            return ([
                go.Scattergl(x=xy[earlier, 0], y=xy[earlier, 1]),
                go.Scattergl(x=ex, y=ey),
                go.Scattergl(x=xy[step.scored, 0], y=xy[step.scored, 1], hovertext=hover(step.scored, step.scores, step.level),
                             marker=dict(color=step.scores, showscale=len(step.scored) > 0)),
                go.Scattergl(x=xy[step.kept, 0], y=xy[step.kept, 1], hovertext=hover(step.kept, level=step.level)),
                go.Scattergl(x=[], y=[], marker=dict(color=[])),
            ], text)
        returned = trace.items[trace.items >= 0]
        hit = np.isin(returned, truth)
        missed = np.zeros(0, dtype=np.int64) if brute is None else np.setdiff1d(brute[brute >= 0], returned)
        result_ids = np.concatenate([returned, missed])
        colours = [HIT_COLOUR if h else KEPT_COLOUR for h in hit] + [MISS_COLOUR] * len(missed)
        symbols = ["star"] * len(returned) + ["x"] * len(missed)
        all_scored = np.unique(np.concatenate([s.scored for s in steps] + [np.array([entry])]))
        text = translate("nann_step_result", lang, k=len(returned), hits=int(hit.sum()), total=so_far[-1] + 1 if so_far else 1,
                         items=n_items, missed=len(missed) if brute is not None else "—")
        return ([
            go.Scattergl(x=xy[all_scored, 0], y=xy[all_scored, 1]),
            go.Scattergl(x=[], y=[]),
            go.Scattergl(x=[], y=[], marker=dict(color=[])),
            go.Scattergl(x=[], y=[]),
            go.Scattergl(x=xy[result_ids, 0], y=xy[result_ids, 1], hovertext=hover(result_ids),
                         marker=dict(color=colours, symbol=symbols)),
        ], text)

    drawn = background_sample(len(xy), max_background)
    sampled = [sampled_note(len(drawn), len(xy), lang, inside=True)] if len(drawn) < len(xy) else []
    frames = []
    for i in range(len(steps) + 2):
        data, text = frame(i)
        frames.append(go.Frame(name=str(i), data=data, traces=[1, 2, 3, 4, 5],
                               layout=dict(annotations=[note_box(text)] + sampled)))
    base = go.Scattergl(x=xy[drawn, 0], y=xy[drawn, 1], mode="markers", marker=dict(size=3, color="#d9d9d9"),
                        hoverinfo="skip", name=translate("nann_legend_items", lang))
    fig = go.Figure(data=[
        base,
        go.Scattergl(mode="markers", marker=dict(size=4, color="#555555"), hoverinfo="skip",
                     name=translate("nann_legend_scored_before", lang)),
        go.Scattergl(mode="lines", line=dict(width=0.8, color="rgba(70,70,70,0.5)"), hoverinfo="skip",
                     name=translate("nann_legend_followed", lang)),
        go.Scattergl(mode="markers", hoverinfo="text", name=translate("nann_legend_scored", lang),
                     marker=dict(size=8, colorscale="Viridis", colorbar=dict(title=translate("hover_score", lang), len=0.6))),
        go.Scattergl(mode="markers", hoverinfo="text", name=translate("nann_legend_w", lang),
                     marker=dict(size=12, color="rgba(0,0,0,0)", line=dict(width=2, color=KEPT_COLOUR))),
        go.Scattergl(mode="markers", hoverinfo="text", name=translate("nann_legend_result", lang),
                     marker=dict(size=12)),
    ], frames=frames)
    for obj, update in zip(fig.data[1:], frames[0].data):
        obj.update(x=update.x, y=update.y, hovertext=getattr(update, "hovertext", None))
    fig.update_layout(annotations=[note_box(translate("nann_step_start", lang, level=trace.info["max_level"],
                                                      n=n_items))] + sampled)
    animation_controls(fig, ["start"] + [s.stage for s in steps] + ["top-K"], lang)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    base_layout(fig, height=height)
    fig.update_layout(margin=dict(l=10, r=10, t=110, b=80), legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0))
    return fig


def _expansion_edges(expanded: np.ndarray, scored: np.ndarray, parents: np.ndarray | None) -> np.ndarray:
    """Edges from the node each newly scored item was reached from."""
    if parents is None or not len(scored):
        return np.zeros((0, 2), dtype=np.int64)
    return np.stack([parents, scored], axis=1)
