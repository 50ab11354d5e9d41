"""Figures for the TDM page: the tree, the beam search animated level by level, a sample's path.

Pure functions: a :class:`~recall_core.tdm_tree.Tree`, a search trace and plain arrays in,
a Plotly figure out.  The tree is drawn top-down with heap-code positions (node i of
level l sits at x = (i + 0.5) / b^l); the top levels are drawn fully, deeper levels
only where the search went; every other subtree stays collapsed into its node, whose
hover gives the number of movies below it.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ..i18n import translate
from ..tdm_tree import Tree
from ..trace import SearchTrace
from .common import HIT_COLOUR, KEPT_COLOUR, MISS_COLOUR, animation_controls, base_layout, note_box, shorten

UNREACHED = "#e6e6e6"
PRUNED = "#9e9e9e"


def node_genre_counts(tree: Tree, genres: np.ndarray) -> np.ndarray:
    """[n_codes, n_genres]: how many movies of each genre lie below every node."""
    counts = np.zeros((tree.n_codes, genres.shape[1]), dtype=np.float32)
    counts[tree.leaf_code] = genres
    for level in range(tree.depth - 1, -1, -1):
        codes = tree.level_codes(level)
        counts[codes] = counts[tree.children(codes)].sum(1)
    return counts


def node_labels(tree: Tree, genres: np.ndarray, genre_names: list[str], titles: list[str], top: int = 2) -> list[str]:
    """A short label per code: the title for a leaf, the dominant genres for an inner node."""
    counts = node_genre_counts(tree, genres)
    labels = [""] * tree.n_codes
    for code in np.flatnonzero(tree.valid):
        if tree.item_at[code] >= 0:
            labels[code] = titles[tree.item_at[code]]
        else:
            best = np.argsort(-counts[code])[:top]
            labels[code] = " / ".join(genre_names[g] for g in best if counts[code, g] > 0)
    return labels


def positions(tree: Tree, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    codes = np.asarray(codes, dtype=np.int64)
    level = tree.level_of(codes)
    starts = np.array([tree.level_start(l) for l in range(tree.depth + 1)])
    x = (codes - starts[level] + 0.5) / tree.branching ** level.astype(float)
    return x, -level.astype(float)


def visible_nodes(tree: Tree, extra: np.ndarray, top_levels: int) -> np.ndarray:
    """Valid nodes of the top levels, the extra nodes (e.g. all that were scored) and their ancestors."""
    shown = set(np.concatenate([tree.nodes_at(l) for l in range(min(top_levels, tree.depth) + 1)]).tolist())
    frontier = set(np.asarray(extra, dtype=np.int64).tolist())
    while frontier:
        shown |= frontier
        frontier = {int(p) for p in tree.parent(np.array(sorted(frontier))) if p >= 0} - shown
    return np.array(sorted(c for c in shown if tree.valid[c]), dtype=np.int64)


def _edges(tree: Tree, codes: np.ndarray) -> go.Scattergl:
    x, y = positions(tree, codes)
    parents = tree.parent(codes)
    has_parent = parents >= 0
    px, py = positions(tree, parents[has_parent])
    xs = np.column_stack([x[has_parent], px, np.full(len(px), np.nan)]).ravel()
    ys = np.column_stack([y[has_parent], py, np.full(len(py), np.nan)]).ravel()
    return go.Scattergl(x=xs, y=ys, mode="lines", line=dict(color="#d0d0d0", width=0.8), hoverinfo="skip",
                        showlegend=False)


def _hover(tree: Tree, codes: np.ndarray, labels: list[str], scores: dict[int, float], lang: str) -> list[str]:
    out = []
    levels = tree.level_of(codes)
    for c, level in zip(np.asarray(codes).tolist(), levels.tolist()):
        score = f"<br>{translate('hover_score', lang)}: {scores[c]:.3f}" if c in scores else ""
        out.append(f"<b>{labels[c]}</b><br>{translate('tdm_hover_node', lang, code=c, level=level, n=int(tree.count[c]))}"
                   f"{score}")
    return out


def beam_search_animation(tree: Tree, trace: SearchTrace, labels: list[str], truth: np.ndarray,
                          lang: str = "zh", top_levels: int = 4, height: int = 640) -> go.Figure:
    """One frame per level of the search, a first frame before it and a last one on the result.

    Frame i colours the nodes scored at that level by the model's score (ringed if kept in the
    beam); nodes of earlier levels stay orange when kept and grey when pruned.
    """
    scored_all = np.concatenate([s.scored for s in trace.steps]) if trace.steps else np.zeros(0, dtype=np.int64)
    codes = visible_nodes(tree, scored_all, top_levels)
    x, y = positions(tree, codes)
    index = {c: i for i, c in enumerate(codes.tolist())}
    brute = tree.n_items
    result_leaves = tree.leaf_code[trace.items[trace.items >= 0]]
    hits = np.isin(trace.items[trace.items >= 0], truth)

    def frame_state(upto: int):
        """Colours, hover, current-step markers and the explanation after ``upto`` steps."""
        colour = np.full(len(codes), UNREACHED, dtype=object)
        scores: dict[int, float] = {}
        for step in trace.steps[: max(upto - 1, 0)]:
            colour[[index[c] for c in step.scored]] = PRUNED
            colour[[index[c] for c in step.kept if c in index]] = KEPT_COLOUR
            scores.update(zip(step.scored.tolist(), step.scores.tolist()))
        current = trace.steps[upto - 1] if 0 < upto <= len(trace.steps) else None
        cur_x, cur_y, cur_s, cur_line, cur_text = [], [], [], [], []
        if current is not None:
            scores.update(zip(current.scored.tolist(), current.scores.tolist()))
            kept = set(current.kept.tolist())
            ids = [index[c] for c in current.scored]
            cur_x, cur_y, cur_s = x[ids], y[ids], current.scores
            cur_line = [2.5 if c in kept else 0.0 for c in current.scored.tolist()]
            cur_text = _hover(tree, current.scored, labels, scores, lang)
        return colour, scores, (cur_x, cur_y, cur_s, cur_line, cur_text)

    def explanation(upto: int) -> str:
        so_far = trace.scored_so_far()
        if upto == 0:
            return translate("tdm_step_start", lang, level=trace.info.get("start_level", 0),
                             beam=trace.info.get("beam", 0), depth=tree.depth)
        if upto > len(trace.steps):
            return translate("tdm_step_result", lang, k=int((trace.items >= 0).sum()), hits=int(hits.sum()),
                             total=so_far[-1], brute=brute)
        step = trace.steps[upto - 1]
        key = "tdm_step_first" if upto == 1 else ("tdm_step_leaves" if step.level == tree.depth else "tdm_step_level")
        text = translate(key, lang, level=step.level, n=len(step.scored), kept=len(step.kept), total=so_far[upto - 1],
                         brute=brute, frac=so_far[upto - 1] / brute)
        extra = len(step.kept) - int(trace.info.get("beam", len(step.kept)))
        if step.level < tree.depth and extra > 0:  # the exact rule with the history excluded widened the beam
            text += " " + translate("tdm_step_widened", lang, extra=extra)
        return text

    n_frames = len(trace.steps) + 2
    frames = []
    for f in range(n_frames):
        colour, scores, (cx, cy, cs, cl, ct) = frame_state(min(f, len(trace.steps) + 1))
        final = f == n_frames - 1
        rx, ry = positions(tree, result_leaves) if final and len(result_leaves) else (np.zeros(0), np.zeros(0))
        frames.append(go.Frame(
            name=str(f),
            data=[
                go.Scattergl(marker=dict(color=colour.tolist())),
                go.Scattergl(x=cx, y=cy, hovertext=ct,
                             marker=dict(color=cs, line=dict(width=cl, color="black"), colorscale="Viridis",
                                         size=11, showscale=len(cs) > 0,
                                         colorbar=dict(title=translate("hover_score", lang), len=0.6))),
                go.Scattergl(x=rx, y=ry, hovertext=[labels[c] for c in result_leaves] if final else [],
                             marker=dict(color=[HIT_COLOUR if h else MISS_COLOUR for h in hits] if final else [],
                                         size=12, symbol="star")),
            ],
            traces=[1, 2, 3],
            layout=dict(annotations=[note_box(explanation(min(f, len(trace.steps) + 1)))]),
        ))
    colour0, scores0, _ = frame_state(0)
    top = codes[tree.level_of(codes) <= min(3, tree.depth - 1)]
    tx, ty = positions(tree, top)
    genre_labels = go.Scatter(x=tx, y=ty + 0.28, mode="text", text=[shorten(labels[c], 22) for c in top],
                              textfont=dict(size=9, color="#555555"), hoverinfo="skip", showlegend=False)
    fig = go.Figure(
        data=[
            _edges(tree, codes),
            go.Scattergl(x=x, y=y, mode="markers", marker=dict(size=8, color=colour0.tolist(), line=dict(width=0)),
                         hovertext=_hover(tree, codes, labels, scores0, lang), hoverinfo="text",
                         name=translate("tdm_legend_nodes", lang)),
            go.Scattergl(x=[], y=[], mode="markers", hoverinfo="text", name=translate("tdm_legend_scored", lang),
                         marker=dict(size=11, colorscale="Viridis")),
            go.Scattergl(x=[], y=[], mode="markers", hoverinfo="text", name=translate("tdm_legend_result", lang),
                         marker=dict(size=12, symbol="star")),
            genre_labels,
        ],
        frames=frames,
    )
    slider_labels = ["start"] + [s.stage.replace("level", "L") for s in trace.steps] + ["top-K"]
    animation_controls(fig, slider_labels, lang)
    fig.update_layout(annotations=[note_box(explanation(0))])
    fig.update_xaxes(visible=False, range=[-0.02, 1.02])
    fig.update_yaxes(visible=False, range=[-tree.depth - 0.6, 0.6])
    base_layout(fig, height=height)
    fig.update_layout(margin=dict(l=10, r=10, t=90, b=80), showlegend=True,
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0))
    return fig


def sample_path_figure(tree: Tree, codes: np.ndarray, labels_pos_neg: np.ndarray, levels: np.ndarray,
                       labels: list[str], lang: str = "zh", top_levels: int = 3, height: int = 520) -> go.Figure:
    """How one (history, target) example becomes samples: the positive path up the tree
    (green, one node per level) and the negatives drawn at each level (red)."""
    codes = np.asarray(codes, dtype=np.int64)
    shown = visible_nodes(tree, codes, top_levels)
    x, y = positions(tree, shown)
    pos = codes[labels_pos_neg == 1]
    neg = codes[labels_pos_neg == 0]
    px, py = positions(tree, np.concatenate([[0], pos]))
    nx_, ny_ = positions(tree, neg) if len(neg) else (np.zeros(0), np.zeros(0))
    fig = go.Figure([
        _edges(tree, shown),
        go.Scattergl(x=x, y=y, mode="markers", marker=dict(size=6, color=UNREACHED), hoverinfo="text",
                     hovertext=_hover(tree, shown, labels, {}, lang), name=translate("tdm_legend_nodes", lang)),
        go.Scatter(x=px, y=py, mode="lines+markers", line=dict(color=HIT_COLOUR, width=3),
                   marker=dict(size=11, color=HIT_COLOUR), hoverinfo="text",
                   hovertext=_hover(tree, np.concatenate([[0], pos]), labels, {}, lang),
                   name=translate("tdm_legend_positive", lang)),
        go.Scattergl(x=nx_, y=ny_, mode="markers", marker=dict(size=9, color=MISS_COLOUR, symbol="x"),
                     hoverinfo="text", hovertext=_hover(tree, neg, labels, {}, lang),
                     name=translate("tdm_legend_negative", lang)),
    ])
    fig.update_xaxes(visible=False, range=[-0.02, 1.02])
    fig.update_yaxes(visible=False)
    base_layout(fig, height=height)
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0))
    return fig
