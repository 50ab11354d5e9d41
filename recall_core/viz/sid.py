"""Figures for the Semantic-IDs page: the codebooks as a map, codebook usage, and one user's trie-constrained
beam search drawn as a lattice (columns = code levels, rows = codes), animated code by code."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..dr import path_size_stats
from ..i18n import translate
from ..sid_codes import Trie
from ..trace import SearchTrace
from .common import (HIT_COLOUR, KEPT_COLOUR, MUTED, animation_controls, base_layout, genre_colour, note_box,
                     shorten)
from .two_tower import MAX_BACKGROUND, background_sample, sampled_note

STATES = ("cut", "history", "pruned", "kept")  # what happened to a (beam prefix, token) candidate, worst first
EARLIER_COLOUR = "#7f7f7f"
EDGE_COLOUR = "#2c7fb8"


def id_text(code) -> str:
    return "(" + ", ".join(str(int(c)) for c in code) + ")"


# ---------------------------------------------------------------------------- the codebooks


def codebook_map(xy: np.ndarray, ids: np.ndarray, titles: list[str], lang: str = "zh", level: int = 0,
                 max_background: int = MAX_BACKGROUND) -> go.Figure:
    """Items at their 2-D position (a projection of the vectors the quantiser coded), coloured by their code
    at ``level`` (0: the first code); the hover gives the title and the whole semantic ID."""
    ids = np.asarray(ids)
    drawn = background_sample(len(xy), max_background)
    fig = go.Figure()
    for code in np.unique(ids[drawn, level]):
        sel = drawn[ids[drawn, level] == code]
        fig.add_trace(go.Scattergl(
            x=xy[sel, 0], y=xy[sel, 1], mode="markers", name=str(int(code)),
            marker=dict(size=6, color=genre_colour(int(code)), opacity=0.8),
            customdata=sel, text=[f"<b>{titles[i]}</b><br>ID {id_text(ids[i])}" for i in sel],
            hovertemplate="%{text}<extra></extra>"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    base_layout(fig, height=540)
    fig.update_layout(legend=dict(title=translate("sid_map_legend", lang, level=level + 1)))
    if len(drawn) < len(xy):
        fig.update_layout(annotations=[sampled_note(len(drawn), len(xy), lang)], margin=dict(b=30))
    return fig


def code_usage_figure(ids: np.ndarray, codebook_size: int, levels: int, lang: str = "zh") -> go.Figure:
    """Items per code, one bar series per quantiser level (a dead code is a missing bar; collapse, one tall bar)."""
    fig = go.Figure()
    for level in range(levels):
        counts = np.bincount(np.asarray(ids)[:, level], minlength=codebook_size)
        fig.add_trace(go.Bar(x=np.arange(codebook_size), y=counts, name=translate("sid_level", lang, level=level + 1),
                             marker_color=genre_colour(level), opacity=0.8))
    fig.update_layout(barmode="group", bargap=0.15,
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0))
    fig.update_xaxes(title=translate("sid_axis_code", lang), dtick=1)
    fig.update_yaxes(title=translate("sid_axis_items", lang))
    return base_layout(fig, height=340)


def codebook_frame(quantiser_log: dict, lang: str = "zh") -> pd.DataFrame:
    """Per level: codes used of K, perplexity, the relative error left after the level (in the space the codes
    quantise; for the RQ-VAE also after decoding) and dead codes reset during training."""
    usage = quantiser_log.get("usage", [])
    recon = quantiser_log.get("recon_error", [])
    decoder = quantiser_log.get("decoder_error")
    resets = quantiser_log.get("resets")
    frame = {
        translate("sid_col_level", lang): [u["level"] for u in usage],
        translate("sid_col_used", lang): [f"{u['used']} / {u['K']}" for u in usage],
        translate("sid_col_perplexity", lang): [round(u["perplexity"], 2) for u in usage],
        translate("sid_col_error", lang): [round(recon[u["level"]], 3) if len(recon) > u["level"] else np.nan
                                           for u in usage],
    }
    if decoder:
        frame[translate("sid_col_decoder_error", lang)] = [round(e, 3) for e in decoder[:len(usage)]]
    if resets:
        frame[translate("sid_col_resets", lang)] = list(resets[:len(usage)])
    return pd.DataFrame(frame)


def tuple_stats(ids: np.ndarray, codebook_size: int, levels: int) -> dict:
    """DR's path-size statistics for the L-code tuples before disambiguation (a tuple is a path of a
    K^L lattice; the items sharing one are its collisions)."""
    codes = np.asarray(ids)[:, :levels].astype(np.int64)
    flat = codes @ (codebook_size ** np.arange(levels - 1, -1, -1))
    return path_size_stats(flat, codebook_size ** levels)


def path_stats_frame(rows: dict[str, tuple[dict, int]], lang: str = "zh") -> pd.DataFrame:
    """One row per index: ``rows`` maps a name to (path_size_stats, number of possible paths)."""
    return pd.DataFrame({
        translate("dr_stats_setting", lang): list(rows),
        translate("sid_col_possible", lang): [n for _, n in rows.values()],
        translate("dr_stats_nonempty", lang): [s["non_empty_paths"] for s, _ in rows.values()],
        translate("dr_stats_largest", lang): [s["largest_path"] for s, _ in rows.values()],
        translate("dr_stats_gini", lang): [round(s["gini"], 3) for s, _ in rows.values()],
        translate("dr_stats_entropy", lang): [round(s["entropy_bits"], 2) for s, _ in rows.values()],
    })


# ---------------------------------------------------------------------------- the constrained beam


def step_candidates(trace: SearchTrace, trie: Trie) -> list[dict]:
    """Every (beam prefix, token) candidate of every decoder step, with what happened to it.

    Per step: ``parent`` (the level-l trie node the prefix is), ``token``, ``node`` (the child in the trie,
    -1 when no item has that prefix), ``state`` ("cut": not in the trie; "history": in the trie but every
    item below it is in the user's history; "pruned": scored, not kept; "kept"), ``p`` (p(prefix) for the
    scored ones, else nan)."""
    out = []
    parents = np.zeros(1, dtype=np.int64)  # the root
    for l, step in enumerate(trace.steps):
        vocab = trie.child[l].shape[1]
        parent = np.repeat(parents, vocab)
        token = np.tile(np.arange(vocab), len(parents))
        node = trie.child[l][parent, token]
        score = dict(zip(np.asarray(step.scored).tolist(), np.asarray(step.scores, dtype=float).tolist()))
        kept = set(np.asarray(step.kept).tolist())
        state = np.array(["cut" if n < 0 else "kept" if n in kept else "pruned" if n in score else "history"
                          for n in node.tolist()], dtype=object)
        p = np.array([score.get(n, np.nan) if n >= 0 else np.nan for n in node.tolist()])
        out.append({"parent": parent, "token": token, "node": node, "state": state, "p": p})
        parents = np.asarray(step.kept, dtype=np.int64)
    return out


def beam_lattice(trace: SearchTrace, trie: Trie, titles: list[str], truth: np.ndarray, lang: str = "zh",
                 show: int = 20, height: int = 760) -> go.Figure:
    """One frame per decoder step.  Columns: code 1 .. code L, the collision code, then the finished items;
    rows: the codes.  In the current column each code is drawn by the best that happened to a candidate ending
    in it: kept (coloured by log10 p(prefix), ringed), scored and pruned (hollow), in the trie but leading only
    to the user's history (grey diamond), or not in the trie at all (a light cross).  Lines join each kept
    prefix's last two codes; the last frame lists the finished items (top ``show`` by p(ID); green: a hit,
    orange: returned, grey: beyond K) and draws every hit's ID as a green path through the lattice."""
    steps = trace.steps
    depth = len(steps)  # L + 1 tokens per ID
    K = max(trie.child[l].shape[1] for l in range(depth - 1)) if depth > 1 else trie.child[0].shape[1]
    rows = max(K - 1, 1)
    cands = step_candidates(trace, trie)
    truth = np.asarray(truth)
    returned = np.asarray(trace.items)
    finished = np.asarray(steps[-1].kept, dtype=np.int64) if steps else np.zeros(0, dtype=np.int64)
    p_item = dict(zip(np.asarray(steps[-1].scored).tolist(), np.asarray(steps[-1].scores, dtype=float).tolist())) \
        if steps else {}

    # rows drawn per column: K, or up to the largest code any candidate of this search could take (the collision
    # code can have more values than K: such a column is compressed); codes beyond are all "not in the trie"
    shown = [max(K, int(c["token"][c["state"] != "cut"].max(initial=-1)) + 1) for c in cands]

    def y_of(level: int, code) -> np.ndarray:
        """Row of a code in column ``level`` (1-based)."""
        scale = rows / (shown[level - 1] - 1) if shown[level - 1] > K else 1.0
        return -np.asarray(code, dtype=float) * scale

    def level_name(level: int) -> str:
        return translate("sid_column_code", lang, level=level) if level < depth else translate("sid_column_collision",
                                                                                              lang)

    # colour scale shared by every frame (the colour bar never moves)
    kept_p = np.concatenate([c["p"][c["state"] == "kept"] for c in cands] + [np.zeros(0)])
    logs = np.log10(np.maximum(kept_p, 1e-12)) if len(kept_p) else np.array([-1.0, 0.0])
    cmin, cmax = float(logs.min()), float(max(logs.max(), logs.min() + 1e-6))

    def nodes_of(l: int) -> dict:
        """The current column's codes grouped by the best state of their candidates, with hover text."""
        c = cands[l]
        level = l + 1
        groups = {s: ([], [], [], [], []) for s in STATES}  # x, y, hover, colour, label (kept / scored)
        for code in np.unique(c["token"][c["token"] < shown[l]]):
            mask = c["token"] == code
            states = c["state"][mask]
            counts = {s: int((states == s).sum()) for s in STATES}
            best = max((s for s in STATES if counts[s]), key=STATES.index)
            kept_nodes = c["node"][mask & (c["state"] == "kept")]
            kept_ps = c["p"][mask & (c["state"] == "kept")]
            order = np.argsort(-kept_ps)[:4]
            examples = "".join(f"<br>{id_text(trie.prefixes[level][n])} · p = {p:.2e}"
                               for n, p in zip(kept_nodes[order], kept_ps[order]))
            text = translate("sid_node_hover", lang, column=level_name(level), code=int(code), kept=counts["kept"],
                             pruned=counts["pruned"], history=counts["history"], cut=counts["cut"]) + examples
            g = groups[best]
            g[0].append(level)
            g[1].append(float(y_of(level, code)))
            g[2].append(text)
            g[3].append(float(np.log10(max(kept_ps.max(), 1e-12))) if len(kept_ps) else 0.0)
            g[4].append(f"{counts['kept']}/{counts['kept'] + counts['pruned']}" if counts["kept"] + counts["pruned"] else "")
        return groups

    def kept_edges(upto: int) -> tuple[list, list]:
        """Segments (level-1 code -> level code) of the kept prefixes of steps 1 .. upto - 1."""
        xs, ys = [], []
        for l in range(1, upto):
            level = l + 1
            prefixes = trie.prefixes[level][np.asarray(steps[l].kept, dtype=np.int64)]
            for a, b in {(int(p[-2]), int(p[-1])) for p in prefixes}:
                xs += [level - 1, level, None]
                ys += [float(y_of(level - 1, a)), float(y_of(level, b)), None]
        return xs, ys

    def earlier_nodes(f: int) -> tuple[list, list]:
        xs, ys = [], []
        for l in range(f):
            codes = np.unique(trie.prefixes[l + 1][np.asarray(steps[l].kept, dtype=np.int64)][:, -1])
            xs += [l + 1] * len(codes)
            ys += y_of(l + 1, codes).tolist()
        return xs, ys

    def items_column() -> tuple[list, list, list, list, list]:
        top = finished[:show]
        spacing = rows / max(len(top) - 1, 1) if len(top) > 1 else 0.0
        ys = [-r * min(spacing, 1.0) for r in range(len(top))]
        colours = [HIT_COLOUR if v in truth else KEPT_COLOUR if v in returned else MUTED for v in top.tolist()]
        hover = [f"<b>{titles[v]}</b><br>ID {id_text(trie.prefixes[depth][v])} · p = {p_item.get(v, np.nan):.2e}"
                 for v in top.tolist()]
        labels = [shorten(titles[v], 26) for v in top.tolist()]
        return [depth + 1] * len(top), ys, colours, hover, labels, top.tolist()

    def hit_paths() -> tuple[list, list]:
        xs, ys = [], []
        top = finished[:show].tolist()
        _, item_y, *_ = items_column()
        for v in finished.tolist():
            if v not in truth:
                continue
            code = trie.prefixes[depth][v]
            xs += list(range(1, depth + 1))
            ys += [float(y_of(level, code[level - 1])) for level in range(1, depth + 1)]
            if v in top:
                xs.append(depth + 1)
                ys.append(item_y[top.index(v)])
            xs.append(None)
            ys.append(None)
        return xs, ys

    so_far = trace.scored_so_far()

    def note(f: int) -> str:
        info = steps[f].info
        if f < depth - 1:
            return translate("sid_step_code", lang, level=f + 1, beam_in=info["beam_in"], tokens=info["tokens"],
                             outputs=info["outputs"], cut=info["not_in_trie"], history=info["history_pruned"],
                             scored=info["scored"], kept=len(steps[f].kept), total=so_far[f])
        hits = int(np.isin(returned, truth).sum())
        return translate("sid_step_collision", lang, beam_in=info["beam_in"], tokens=info["tokens"],
                         outputs=info["outputs"], cut=info["not_in_trie"], history=info["history_pruned"],
                         scored=info["scored"], kept=len(steps[f].kept), k=len(returned), hits=hits,
                         total=so_far[f])

    def frame_data(f: int) -> list:
        ex_old, ey_old = kept_edges(f)
        ex_new, ey_new = kept_edges(f + 1)
        ex_new, ey_new = ex_new[len(ex_old):], ey_new[len(ey_old):]
        ox, oy = earlier_nodes(f)
        groups = nodes_of(f)
        final = f == depth - 1
        ix, iy, icol, ihover, ilabel, iids = items_column() if final else ([], [], [], [], [], [])
        hx, hy = hit_paths() if final else ([], [])
        data = [go.Scatter(x=ex_old, y=ey_old), go.Scatter(x=ex_new or [None], y=ey_new or [None]),
                go.Scatter(x=ox or [None], y=oy or [None])]
        for s in STATES:
            x, y, hover, colour, label = groups[s]
            extra = {"marker": dict(kept_marker, color=colour or [0.0])} if s == "kept" else {}
            # an empty group keeps one invisible point, so that its legend entry does not come and go
            data.append(go.Scatter(x=x or [None], y=y or [None], hovertext=hover, text=label, **extra))
        data.append(go.Scatter(x=hx or [None], y=hy or [None]))
        data.append(go.Scatter(x=ix or [None], y=iy or [None], hovertext=ihover, text=ilabel, customdata=iids,
                               marker=dict(size=12, symbol="star", color=icol or KEPT_COLOUR)))
        return data

    # the whole lattice, faint, under everything (not animated)
    bx, by = [], []
    for level in range(1, depth + 1):
        bx += [level] * shown[level - 1]
        by += y_of(level, np.arange(shown[level - 1])).tolist()
    base = go.Scatter(x=bx, y=by, mode="markers", marker=dict(size=5, color="#e6e6e6"), hoverinfo="skip",
                      name=translate("sid_legend_lattice", lang))
    kept_marker = dict(size=13, colorscale="Viridis", cmin=cmin, cmax=cmax, showscale=True,
                       colorbar=dict(title="log10 p", len=0.6, y=0.5),
                       line=dict(width=2, color="black"))
    small_text = dict(textposition="middle right", textfont=dict(size=9, color="#555555"))
    templates = [
        go.Scatter(mode="lines", line=dict(color="#cfcfcf", width=1), hoverinfo="skip", showlegend=False,
                   name="earlier edges"),
        go.Scatter(mode="lines", line=dict(color=EDGE_COLOUR, width=1.5), hoverinfo="skip",
                   name=translate("sid_legend_edges", lang)),
        go.Scatter(mode="markers", marker=dict(size=8, color=EARLIER_COLOUR), hoverinfo="skip",
                   name=translate("sid_legend_earlier", lang)),
        go.Scatter(mode="markers", hoverinfo="text", name=translate("sid_legend_cut", lang),
                   marker=dict(size=9, symbol="x-thin", line=dict(width=2, color="#f4a582"))),
        go.Scatter(mode="markers", hoverinfo="text", name=translate("sid_legend_history", lang),
                   marker=dict(size=10, symbol="diamond", color="#bababa")),
        go.Scatter(mode="markers+text", hoverinfo="text", name=translate("sid_legend_pruned", lang), **small_text,
                   marker=dict(size=11, color="white", line=dict(width=1.5, color="#737373"))),
        go.Scatter(mode="markers+text", hoverinfo="text", name=translate("sid_legend_kept", lang), marker=kept_marker,
                   **small_text),
        go.Scatter(mode="lines", line=dict(color=HIT_COLOUR, width=2), opacity=0.8, hoverinfo="skip",
                   name=translate("sid_legend_hit_path", lang)),
        go.Scatter(mode="markers+text", hoverinfo="text", textposition="middle right", textfont=dict(size=11),
                   name=translate("sid_legend_items", lang), marker=dict(size=12, symbol="star", color=KEPT_COLOUR)),
    ]
    frames = [go.Frame(name=str(f), data=frame_data(f), traces=list(range(1, len(templates) + 1)),
                      layout=dict(annotations=[note_box(note(f))])) for f in range(depth)]
    fig = go.Figure(data=[base] + templates, frames=frames)
    if frames:
        for obj, update in zip(fig.data[1:], frames[0].data):
            obj.update(x=update.x, y=update.y, hovertext=update.hovertext, text=update.text,
                       customdata=update.customdata)
            if obj.name == translate("sid_legend_kept", lang):
                obj.marker.color = update.marker.color
        fig.update_layout(annotations=[note_box(note(0))])
    animation_controls(fig, [level_name(l + 1) for l in range(depth)], lang)
    fig.layout.sliders[0].update(x=0.24, len=0.76)  # its "Step: collision code" clear of the buttons in a narrow column
    ticks = [level_name(level) for level in range(1, depth + 1)] + [translate("sid_column_items", lang)]
    fig.update_xaxes(tickvals=list(range(1, depth + 2)), ticktext=ticks, range=[0.5, depth + 2.6], side="top",
                     showgrid=False, zeroline=False)
    fig.update_yaxes(tickvals=[-c for c in range(K)], ticktext=[str(c) for c in range(K)], range=[-rows - 0.8, 0.8],
                     title=translate("sid_axis_code", lang), showgrid=False, zeroline=False)
    base_layout(fig, height=height)
    fig.update_layout(margin=dict(l=10, r=10, t=120, b=150),  # the legend sits under the Play / step controls
                      legend=dict(orientation="h", x=0.0, y=-0.2, xanchor="left", yanchor="top"))
    return fig
