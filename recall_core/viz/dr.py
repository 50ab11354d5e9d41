"""Figures for the Deep Retrieval page: the D×K lattice as a Sankey diagram, path sizes under
different penalties, and a user's beam search animated layer by layer (then the rerank)."""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import plotly.graph_objects as go

from ..dr import path_codes
from ..i18n import translate
from ..trace import SearchTrace
from .common import (HIT_COLOUR, KEPT_COLOUR, MISS_COLOUR, animation_controls, base_layout, genre_colour, note_box,
                     shorten)

PATH_COLOURS = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e"]


def lattice_sankey(pi: np.ndarray, width: int, depth: int, titles: list[str], lang: str = "zh",
                   highlight: np.ndarray | None = None, examples: int = 3) -> go.Figure:
    """Layers left to right, K nodes each; a link's width is the number of (item, path) pairs
    that go through it.  ``highlight`` (path ids) colours one movie's J paths."""
    ids = pi.ravel()
    items = np.repeat(np.arange(len(pi)), pi.shape[1])
    codes = path_codes(ids, width, depth)
    flows: dict[tuple[int, int, int], list[int]] = defaultdict(list)
    for item, code in zip(items.tolist(), codes.tolist()):
        for d in range(depth - 1):
            flows[(d, code[d], code[d + 1])].append(item)
    marked: dict[tuple[int, int, int], int] = {}
    for j, path in enumerate([] if highlight is None else highlight):
        code = path_codes(np.array([path]), width, depth)[0]
        for d in range(depth - 1):
            marked[(d, int(code[d]), int(code[d + 1]))] = j
    source, target, value, colour, hover = [], [], [], [], []
    for (d, a, b), members in sorted(flows.items()):
        source.append(d * width + a)
        target.append((d + 1) * width + b)
        value.append(len(members))
        j = marked.get((d, a, b))
        colour.append(PATH_COLOURS[j % len(PATH_COLOURS)] if j is not None else "rgba(160,160,160,0.35)")
        sample = ", ".join(shorten(titles[i], 28) for i in members[:examples])
        hover.append(translate("dr_link_hover", lang, layer=d + 1, a=a, b=b, n=len(members), sample=sample))
    labels = [f"L{d + 1}·{c}" for d in range(depth) for c in range(width)]
    fig = go.Figure(go.Sankey(
        arrangement="fixed",
        node=dict(label=labels, pad=6, thickness=14, color="#5b7db1",
                  x=[0.01 + 0.98 * d / max(depth - 1, 1) for d in range(depth) for _ in range(width)],
                  y=[0.01 + 0.98 * c / max(width - 1, 1) for _ in range(depth) for c in range(width)]),
        link=dict(source=source, target=target, value=value, color=colour, customdata=hover,
                  hovertemplate="%{customdata}<extra></extra>"),
    ))
    return base_layout(fig, height=520)


def path_size_histogram(sizes: dict[str, np.ndarray], lang: str = "zh") -> go.Figure:
    """How many paths hold 1, 2, 3, ... items, one bar series per penalty setting (log-scale counts)."""
    fig = go.Figure()
    for i, (name, s) in enumerate(sizes.items()):
        used = s[s > 0]
        values, counts = np.unique(used, return_counts=True)
        fig.add_trace(go.Bar(x=values, y=counts, name=name, marker_color=genre_colour(i), opacity=0.75))
    fig.update_layout(barmode="group")
    fig.update_xaxes(title=translate("dr_axis_path_size", lang), type="log")
    fig.update_yaxes(title=translate("dr_axis_paths", lang), type="log")
    return base_layout(fig, height=380)


def beam_animation(trace: SearchTrace, width: int, depth: int, titles: list[str], truth: np.ndarray,
                   lang: str = "zh", show: int = 40, height: int = 620) -> go.Figure:
    """Column d lists the candidate prefixes of layer d by probability (best on top, the first
    ``show``); kept prefixes are ringed and joined to their parent.  The last column holds the
    items collected from the B paths, ordered by the rerank model; hits are green."""
    layer_steps = [s for s in trace.steps if s.stage.startswith("layer")]
    rerank = trace.steps[-1]
    frames, columns = [], []
    for step in layer_steps:
        order = np.argsort(-step.scores, kind="stable")[:show]
        prefixes = step.info["prefixes"][order]
        kept = np.isin(step.scored[order], step.kept)
        columns.append((step.level, prefixes, step.scores[order], kept))
    rr_order = np.argsort(-rerank.scores, kind="stable")[:show]
    rr_items, rr_scores = rerank.scored[rr_order], rerank.scores[rr_order]
    rr_returned = np.isin(rr_items, rerank.kept)
    rr_hit = np.isin(rr_items, truth)

    def column_traces(upto: int):
        xs, ys, colours, lines, texts = [], [], [], [], []
        ex, ey = [], []
        for c, (level, prefixes, probs, kept) in enumerate(columns[:upto]):
            current = c == upto - 1
            for rank, (prefix, p, k) in enumerate(zip(prefixes, probs, kept)):
                xs.append(level)
                ys.append(-rank)
                colours.append(float(np.log10(max(p, 1e-12))) if current else None)
                lines.append(2.5 if k else 0.0)
                texts.append(f"({', '.join(map(str, prefix))}) · p = {p:.4f}")
            if c > 0:  # edges from each kept prefix to its kept parent in the column before
                prev_level, prev_prefixes, _, prev_kept = columns[c - 1]
                position = {tuple(p): -r for r, (p, k) in enumerate(zip(prev_prefixes, prev_kept)) if k}
                for rank, (prefix, k) in enumerate(zip(prefixes, kept)):
                    parent = tuple(prefix[:-1])
                    if k and parent in position:
                        ex += [prev_level, level, None]
                        ey += [position[parent], -rank, None]
        return xs, ys, colours, lines, texts, ex, ey

    def frame_data(upto: int, final: bool):
        xs, ys, colours, lines, texts, ex, ey = column_traces(upto)
        now = [i for i, c in enumerate(colours) if c is not None]
        old = [i for i, c in enumerate(colours) if c is None]
        pick = lambda seq, idx: [seq[i] for i in idx]
        items_x = [depth + 1] * len(rr_items) if final else []
        items_y = [-r for r in range(len(rr_items))] if final else []
        item_colour = ([HIT_COLOUR if h else (KEPT_COLOUR if r else MISS_COLOUR) for h, r in zip(rr_hit, rr_returned)]
                       if final else [])
        item_text = ([f"{titles[i]} · {s:.3f}" for i, s in zip(rr_items, rr_scores)] if final else [])
        return [
            go.Scatter(x=ex, y=ey),
            go.Scatter(x=pick(xs, old), y=pick(ys, old), hovertext=pick(texts, old),
                       marker=dict(line=dict(width=pick(lines, old), color="black"))),
            go.Scatter(x=pick(xs, now), y=pick(ys, now), hovertext=pick(texts, now),
                       marker=dict(color=pick(colours, now), line=dict(width=pick(lines, now), color="black"),
                                   showscale=bool(now), colorscale="Viridis",
                                   colorbar=dict(title="log10 p", len=0.6))),
            go.Scatter(x=items_x, y=items_y, hovertext=item_text, marker=dict(color=item_colour)),
        ]

    def note(f: int) -> str:
        so_far = trace.scored_so_far()
        if f < len(columns):
            level, prefixes, _, kept = columns[f]
            step = layer_steps[f]
            return translate("dr_step_layer", lang, layer=level, n=len(step.scored), kept=len(step.kept),
                             total=so_far[f])
        hits = int(np.isin(rerank.kept, truth).sum())
        return translate("dr_step_rerank", lang, paths=len(layer_steps[-1].kept), n=len(rerank.scored),
                         k=len(rerank.kept), hits=hits, total=so_far[-1])

    n_frames = len(columns) + 1
    for f in range(n_frames):
        final = f == n_frames - 1
        frames.append(go.Frame(name=str(f), data=frame_data(min(f + 1, len(columns)), final), traces=[0, 1, 2, 3],
                               layout=dict(annotations=[note_box(note(f))])))
    fig = go.Figure(data=[
        go.Scatter(x=[], y=[], mode="lines", line=dict(color="#bbbbbb", width=1), hoverinfo="skip", showlegend=False),
        go.Scatter(x=[], y=[], mode="markers", marker=dict(size=7, color="#c8c8c8"), hoverinfo="text",
                   name=translate("dr_legend_earlier", lang)),
        go.Scatter(x=[], y=[], mode="markers", marker=dict(size=10), hoverinfo="text",
                   name=translate("dr_legend_candidates", lang)),
        go.Scatter(x=[], y=[], mode="markers", marker=dict(size=11, symbol="star"), hoverinfo="text",
                   name=translate("dr_legend_items", lang)),
    ], frames=frames)
    first = frames[0]
    for trace_obj, update in zip(fig.data, first.data):
        trace_obj.update(x=update.x, y=update.y, hovertext=update.hovertext, marker=update.marker)
    fig.update_layout(annotations=[note_box(note(0))])
    animation_controls(fig, [s.stage for s in layer_steps] + ["rerank"], lang)
    ticks = [translate("dr_column_layer", lang, d=d) for d in range(1, depth + 1)] + [translate("dr_column_items", lang)]
    fig.update_xaxes(tickvals=list(range(1, depth + 2)), ticktext=ticks, range=[0.5, depth + 1.5])
    fig.update_yaxes(visible=False, range=[-show - 1, 1])
    base_layout(fig, height=height)
    fig.update_layout(margin=dict(l=10, r=10, t=90, b=80), legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0))
    return fig
