"""Figures for the TDM page: the tree, the beam search animated level by level, a sample's path.

Pure functions: a :class:`~recall_core.tdm_tree.Tree`, a search trace and plain arrays in,
a Plotly figure out.  The search is drawn as the beam's frontier (:func:`frontier_view`):
per level only the nodes the beam scored and their ancestors, spread evenly along the level,
every pruned node a counted ▸ stub rather than its subtree, so the figure holds a bounded
number of markers at any catalogue size; ``root`` zooms into one subtree.  The sample view
keeps heap-code positions (node i of level l at x = (i + 0.5) / b^l).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from ..i18n import translate
from ..tdm_tree import Tree
from ..trace import SearchTrace
from .common import HIT_COLOUR, KEPT_COLOUR, MISS_COLOUR, animation_controls, base_layout, note_box, shorten

UNREACHED = "#e6e6e6"
PRUNED = "#9e9e9e"
STUB_SYMBOL = "triangle-right"  # ▸ a pruned subtree, drawn as one counted stub
NODE_COLOURS = (UNREACHED, KEPT_COLOUR, PRUNED)  # a frontier node's colour: not reached yet, kept, pruned
_NODE_SCALE = dict(colorscale=[[0.0, UNREACHED], [0.5, KEPT_COLOUR], [1.0, PRUNED]], cmin=0, cmax=2)


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


# ---------------------------------------------------------------------------- the beam's frontier, at any scale


@dataclass
class FrontierView:
    """What the search figure draws: the beam's frontier inside the subtree of ``root``.

    Per level, only the nodes the beam scored (and, above the start level, their ancestors) are
    drawn; every pruned node is one counted stub, not its subtree.  Each drawn marker is a
    *unit*: normally one node; when a level has more nodes than ``cap`` (a very wide beam), runs
    of adjacent pruned nodes are merged into one stub, and if that is still too many the level's
    nodes are drawn in ``cap`` contiguous groups.  Along a level, units keep the tree's left-to-
    right order, sit as near their parents as the spacing allows and never closer than 1 / n for
    the level's n units (:func:`_layout`); levels are re-based on the root (y = -(level - root level)).
    """

    root: int
    root_level: int
    depth: int  # the tree's leaf level
    cap: int  # most units on one level
    level: np.ndarray  # [U] tree level of each unit
    x: np.ndarray
    y: np.ndarray
    codes: list  # [U] arrays: the tree codes each unit stands for
    movies: np.ndarray  # [U] movies below the unit's codes
    step: np.ndarray  # [U] index in ``steps`` of the step that scored the unit (-1: an ancestor never scored)
    n_kept: np.ndarray  # [U] codes of the unit kept by that step
    n_pruned: np.ndarray  # [U] codes scored and not kept
    pruned_movies: np.ndarray  # [U] movies below the pruned codes
    score: np.ndarray  # [U] best score in the unit (nan when not scored)
    edges: np.ndarray  # [E, 2] (unit, parent unit)
    steps: list  # the trace's steps at or below the root level, restricted to the subtree (TraceStep)
    step_index: list  # for each of ``steps``, its index in the full trace

    @property
    def n_units(self) -> int:
        return len(self.level)

    def is_stub(self) -> np.ndarray:
        """Units that are pruned subtrees (inner levels, nothing kept)."""
        return (self.step >= 0) & (self.n_kept == 0) & (self.n_pruned > 0) & (self.level < self.depth)


def in_subtree(tree: Tree, root: int, codes: np.ndarray) -> np.ndarray:
    """Which codes lie in the subtree of ``root`` (the root included)."""
    codes = np.asarray(codes, dtype=np.int64)
    if root == 0:
        return np.ones(codes.shape, dtype=bool)
    down = tree.level_of(codes) - int(tree.level_of(root))
    span = tree.branching ** np.maximum(down, 0)
    first = root * span + (span - 1) // (tree.branching - 1)
    return (down >= 0) & (codes >= first) & (codes < first + span)


def _group_level(status: np.ndarray, cap: int) -> list[np.ndarray]:
    """Index groups for one level's nodes (left to right; status 0 ancestor, 1 kept, 2 pruned)."""
    n = len(status)
    if n <= cap:
        return [np.array([i]) for i in range(n)]
    groups, start = [], 0
    for i in range(1, n + 1):  # runs of pruned nodes become one stub
        if i == n or status[i] != 2 or status[i - 1] != 2:
            if status[start] == 2:
                groups.append(np.arange(start, i))
            else:
                groups.extend(np.array([j]) for j in range(start, i))
            start = i
    if len(groups) <= cap:
        return groups
    return [np.concatenate([groups[j] for j in chunk]) for chunk in np.array_split(np.arange(len(groups)), cap)]


def _isotonic(values: np.ndarray) -> np.ndarray:
    """The non-decreasing sequence closest to ``values`` in least squares (pool adjacent violators)."""
    means, sizes = [], []
    for v in values.tolist():
        means.append(v)
        sizes.append(1)
        while len(means) > 1 and means[-2] > means[-1]:
            size = sizes[-2] + sizes[-1]
            means[-2:] = [(means[-2] * sizes[-2] + means[-1] * sizes[-1]) / size]
            sizes[-2:] = [size]
    return np.repeat(means, sizes)


def _layout(level: np.ndarray, edges: np.ndarray, labelled_levels: int = 4, label_gap: float = 0.25,
            stub_gap: float = 0.06) -> np.ndarray:
    """x in [0, 1] of units already sorted left to right within each level.

    Level by level from the top, each unit is placed as close as possible (least squares) to
    the mean x of its parents, with neighbours at least ``gap = min(1 / n, max_gap)`` apart for
    the level's n units: a full level is spread evenly by rank (nothing piles up), a sparse one
    sits under its parents.  ``max_gap`` leaves room for a genre label on the first
    ``labelled_levels`` levels and for a "▸ 1,930" stub label below them.  The spacing
    constraint becomes monotonicity of x_i - i * gap, solved by isotonic regression, then the
    level is pushed inside [gap / 2, 1 - gap / 2]."""
    x = np.full(len(level), 0.5)
    parents: dict[int, list[int]] = {}
    for child, parent in edges.tolist():
        parents.setdefault(child, []).append(parent)
    top = level.min() if len(level) else 0
    for l in np.unique(level):
        ids = np.flatnonzero(level == l)
        n = len(ids)
        gap = min(1.0 / n, label_gap if l - top < labelled_levels else stub_gap)
        target = np.array([np.mean(x[parents[u]]) if u in parents else 0.5 for u in ids])
        offset = np.arange(n) * gap
        pos = _isotonic(target - offset) + offset
        pos = np.maximum(pos, gap / 2 + offset)  # keeps the spacing: both sides grow by gap per step
        pos = np.minimum(pos, 1 - gap / 2 - offset[::-1])
        x[ids] = pos
    return x


def frontier_view(tree: Tree, trace: SearchTrace, root: int = 0, max_markers: int = 2000,
                  max_per_level: int = 120) -> FrontierView:
    """The units drawn for ``trace`` inside the subtree of ``root`` (see :class:`FrontierView`).

    At most ``max_markers`` markers in any frame: the units (at most ``cap`` per level), the
    current level's scored units and the returned leaves' stars (each at most ``cap``)."""
    root = int(root)
    if not (0 <= root < tree.n_codes and tree.valid[root]):
        raise ValueError(f"node {root} is not a node of this tree")
    root_level = int(tree.level_of(root))
    n_levels = tree.depth - root_level + 1
    cap = max(2, min(max_per_level, max_markers // (n_levels + 2)))
    steps, step_index, scored_at = [], [], {}
    for i, s in enumerate(trace.steps):
        if s.level < root_level:
            continue
        inside = in_subtree(tree, root, s.scored)
        kept = s.kept[in_subtree(tree, root, s.kept)]
        sub = type(s)(s.stage, s.level, s.scored[inside], s.scores[inside], kept, s.info)
        steps.append(sub)
        step_index.append(i)
        scored_at[s.level] = (len(steps) - 1, sub)
    # the drawn nodes, level by level from the leaves up: scored ones plus the parents of those below
    per_level: dict[int, tuple] = {}
    carry = np.zeros(0, dtype=np.int64)
    for level in range(tree.depth, root_level - 1, -1):
        if level in scored_at:
            k, s = scored_at[level]
            codes, scores = s.scored.astype(np.int64), s.scores.astype(float)
            status = np.where(np.isin(codes, s.kept), 1, 2)
        else:
            k, codes, scores, status = -1, np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64)
        extra = np.setdiff1d(np.union1d(carry, [root] if level == root_level else []).astype(np.int64), codes)
        codes = np.concatenate([codes, extra])
        scores = np.concatenate([scores, np.full(len(extra), np.nan)])
        status = np.concatenate([status, np.zeros(len(extra), np.int64)])
        order = np.argsort(codes, kind="stable")
        per_level[level] = (k, codes[order], scores[order], status[order])
        carry = np.unique(tree.parent(codes)) if level > root_level else carry
    unit_level, unit_codes, unit_step, unit_kept, unit_pruned, unit_pruned_movies, unit_score = (
        [], [], [], [], [], [], [])
    code_unit: dict[int, int] = {}
    for level in range(root_level, tree.depth + 1):
        k, codes, scores, status = per_level[level]
        groups = _group_level(status, cap)
        for g in groups:
            u = len(unit_level)
            unit_level.append(level)
            unit_codes.append(codes[g])
            unit_step.append(k if (status[g] > 0).any() else -1)
            unit_kept.append(int((status[g] == 1).sum()))
            pruned = codes[g][status[g] == 2]
            unit_pruned.append(len(pruned))
            unit_pruned_movies.append(int(tree.count[pruned].sum()))
            unit_score.append(float(np.nanmax(scores[g])) if np.isfinite(scores[g]).any() else np.nan)
            for c in codes[g].tolist():
                code_unit[c] = u
    edges = set()
    for u, (level, codes) in enumerate(zip(unit_level, unit_codes)):
        if level > root_level:
            edges.update((u, code_unit[int(p)]) for p in np.unique(tree.parent(codes)))
    level = np.array(unit_level, dtype=np.int64)
    edges = np.array(sorted(edges), dtype=np.int64).reshape(-1, 2)
    return FrontierView(
        root=root, root_level=root_level, depth=tree.depth, cap=cap, level=level, x=_layout(level, edges),
        y=-(level - root_level).astype(float), codes=unit_codes,
        movies=np.array([int(tree.count[c].sum()) for c in unit_codes], dtype=np.int64),
        step=np.array(unit_step, dtype=np.int64), n_kept=np.array(unit_kept, dtype=np.int64),
        n_pruned=np.array(unit_pruned, dtype=np.int64), pruned_movies=np.array(unit_pruned_movies, dtype=np.int64),
        score=np.array(unit_score, dtype=float), edges=edges,
        steps=steps, step_index=step_index)


def level_story(tree: Tree, trace: SearchTrace, root: int = 0) -> list[dict]:
    """Per step at or below the root's level, inside its subtree: nodes scored, kept, pruned, the
    movies below the pruned nodes, and the whole search's evaluations so far."""
    root_level = int(tree.level_of(root))
    so_far = trace.scored_so_far()
    rows = []
    for i, s in enumerate(trace.steps):
        if s.level < root_level:
            continue
        scored = s.scored[in_subtree(tree, root, s.scored)]
        pruned = scored[~np.isin(scored, s.kept)]
        rows.append({"stage": s.stage, "level": int(s.level), "scored": len(scored), "kept": len(scored) - len(pruned),
                     "pruned": len(pruned), "pruned_movies": int(tree.count[pruned].sum()), "total": int(so_far[i]),
                     "leaves": bool(s.level == tree.depth)})
    return rows


def story_text(row: dict, lang: str) -> str:
    key = "tdm_story_leaves" if row["leaves"] else "tdm_story_level"
    return translate(key, lang, level=row["level"], scored=row["scored"], kept=row["kept"], pruned=row["pruned"],
                     movies=row["pruned_movies"])


def zoom_choices(tree: Tree, trace: SearchTrace, limit: int = 1000) -> list[int]:
    """Nodes a student may zoom into: those the search went through (ancestors of what it scored
    above the start level, the kept nodes below) and went on below, from level 1 to two levels
    above the leaves, shallowest first (at most ``limit``)."""
    scored = np.concatenate([s.scored for s in trace.steps]) if trace.steps else np.zeros(0, np.int64)
    kept = np.concatenate([s.kept for s in trace.steps]) if trace.steps else np.zeros(0, np.int64)
    start = min((s.level for s in trace.steps), default=tree.depth)
    above = np.unique(scored[tree.level_of(scored) == start]) if len(scored) else scored
    found = [kept]
    for _ in range(start):
        above = np.unique(tree.parent(above))
        found.append(above)
    went = np.unique(np.concatenate(found)).astype(np.int64)
    codes = np.intersect1d(went, tree.parent(went))  # the search went on below them
    levels = tree.level_of(codes)
    codes = codes[(levels >= 1) & (levels <= tree.depth - 2)]
    return codes[np.lexsort((codes, tree.level_of(codes)))][:limit].tolist()


def _unit_hover(tree: Tree, view: FrontierView, u: int, labels: list[str], lang: str, done: bool) -> str:
    codes = view.codes[u]
    level = int(view.level[u])
    if len(codes) == 1:
        c = int(codes[0])
        head = f"<b>{labels[c]}</b><br>" + translate("tdm_hover_node", lang, code=c, level=level, n=int(tree.count[c]))
    else:
        head = translate("tdm_hover_group", lang, nodes=len(codes), level=level, n=int(view.movies[u]))
    if done and np.isfinite(view.score[u]):
        head += f"<br>{translate('hover_score', lang)}: {view.score[u]:.3f}"
    if done and view.n_pruned[u] and level < tree.depth:
        head += "<br>" + translate("tdm_hover_stub", lang, n=int(view.pruned_movies[u]), subtrees=int(view.n_pruned[u]))
    if done and len(codes) > 1 and view.n_kept[u]:
        head += "<br>" + translate("tdm_hover_kept", lang, kept=int(view.n_kept[u]))
    return head


def beam_search_animation(tree: Tree, trace: SearchTrace, labels: list[str], truth: np.ndarray,
                          lang: str = "zh", root: int = 0, height: int = 640, max_markers: int = 2000) -> go.Figure:
    """One frame per level of the search, a first frame before it and a last one on the result.

    Only the beam's frontier is drawn (:func:`frontier_view`): per level the nodes the beam scored
    and their ancestors, at most ``max_markers`` markers in any frame whatever the catalogue's
    size.  Frame i colours the nodes scored at that level by the model's score (ringed if kept in
    the beam); nodes of earlier levels stay orange when kept, and a pruned node becomes a grey
    ▸ stub counting the movies below it.  With ``root`` (a node code) only that subtree's part of
    the search is drawn, its levels re-based on the root.
    """
    view = frontier_view(tree, trace, root, max_markers=max_markers)
    steps = view.steps
    m = len(steps)
    brute = tree.n_items
    returned = trace.items[trace.items >= 0]
    returned_codes = tree.leaf_code[returned]
    keep = in_subtree(tree, view.root, returned_codes)
    returned, returned_codes = returned[keep], returned_codes[keep]
    hits = np.isin(returned, truth)
    unit_of_code = {int(c): u for u in range(view.n_units) if view.level[u] == tree.depth for c in view.codes[u]}
    star_units: dict[int, bool] = {}
    for c, h in zip(returned_codes.tolist(), hits.tolist()):
        u = unit_of_code.get(c)
        if u is not None:
            star_units[u] = star_units.get(u, False) or h
    stub = view.is_stub()
    legible = np.bincount(view.level - view.root_level, minlength=tree.depth - view.root_level + 1) <= 30
    story = {r["level"]: r for r in level_story(tree, trace, view.root)}

    def done_mask(f: int) -> np.ndarray:
        finished = min(max(f - 1, 0), m) if f <= m else m
        return (view.step >= 0) & (view.step < finished)

    def node_state(f: int):
        done = done_mask(f)
        colour = np.zeros(view.n_units, dtype=np.int8)  # an index into NODE_COLOURS (cheap in every frame)
        colour[done & (view.n_kept > 0)] = 1
        colour[done & (view.n_kept == 0)] = 2
        # a stub leaves this trace (size 0) for the stub trace, drawn there as a ▸ with its count
        size = np.where(done & stub, 0, np.where(done & (view.n_kept > 0), 8, 6)).astype(np.int8)
        return colour, size

    def stub_labels(f: int):
        """Stubs pruned at the levels done: a "▸ movies" label where the level is legible, and the
        counted hover on every stub."""
        ids = np.flatnonzero((view.step >= 0) & (view.step < min(max(f - 1, 0), m)) & stub)
        text = [f"▸ {int(view.pruned_movies[u]):,}" if legible[view.level[u] - view.root_level] else "" for u in ids]
        hover = [translate("tdm_hover_stub", lang, n=int(view.pruned_movies[u]), subtrees=int(view.n_pruned[u]))
                 for u in ids]
        return view.x[ids], view.y[ids], text, hover

    def explanation(f: int) -> str:
        so_far = trace.scored_so_far()
        zoom = "" if view.root == 0 else translate("tdm_zoom_note", lang, code=view.root, level=view.root_level,
                                                   n=int(tree.count[view.root])) + " "
        if f == 0:
            return zoom + translate("tdm_step_start", lang, level=trace.info.get("start_level", 0),
                                    beam=trace.info.get("beam", 0), depth=tree.depth)
        if f > m:
            return zoom + translate("tdm_step_result", lang, k=int((trace.items >= 0).sum()), hits=int(hits.sum()),
                                    total=so_far[-1] if so_far else 0, brute=brute)
        step = trace.steps[view.step_index[f - 1]]
        i = view.step_index[f - 1]
        key = "tdm_step_first" if i == 0 else ("tdm_step_leaves" if step.level == tree.depth else "tdm_step_level")
        text = translate(key, lang, level=step.level, n=len(step.scored), kept=len(step.kept), total=so_far[i],
                         brute=brute, frac=so_far[i] / brute)
        extra = len(step.kept) - int(trace.info.get("beam", len(step.kept)))
        if step.level < tree.depth and extra > 0:  # the exact rule with the history excluded widened the beam
            text += " " + translate("tdm_step_widened", lang, extra=extra)
        row = story[step.level]
        if view.root != 0:
            text += " " + zoom + story_text(row, lang)
        elif step.level < tree.depth:
            text += " " + translate("tdm_story_pruned", lang, pruned=row["pruned"], movies=row["pruned_movies"])
        return text

    def current(f: int):
        if not 1 <= f <= m:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(view.step == f - 1)

    frames = []
    for f in range(m + 2):
        colour, size = node_state(f)
        cur = current(f)
        cur_hover = [_unit_hover(tree, view, u, labels, lang, True) for u in cur]
        final = f == m + 1
        stars = np.array(sorted(star_units), dtype=np.int64) if final else np.zeros(0, dtype=np.int64)
        sx, sy, st, sh = stub_labels(f)
        frames.append(go.Frame(
            name=str(f),
            data=[
                go.Scattergl(marker=dict(color=colour, size=size, **_NODE_SCALE)),
                go.Scattergl(x=view.x[cur], y=view.y[cur], hovertext=cur_hover,
                             customdata=[int(view.codes[u][0]) if len(view.codes[u]) == 1 else -1 for u in cur],
                             marker=dict(color=view.score[cur],
                                         line=dict(width=np.where(view.n_kept[cur] > 0, 2.5, 0.0), color="black"),
                                         colorscale="Viridis", size=11, showscale=len(cur) > 0,
                                         colorbar=dict(title=translate("hover_score", lang), len=0.6, x=0.93,
                                                       xanchor="left", thickness=14))),
                go.Scattergl(x=view.x[stars], y=view.y[stars],
                             hovertext=[" / ".join(labels[int(c)] for c in view.codes[u][:3]) for u in stars],
                             marker=dict(color=[HIT_COLOUR if star_units[u] else MISS_COLOUR for u in stars],
                                         size=12, symbol="star")),
                go.Scatter(x=sx, y=sy, text=st, hovertext=sh),
            ],
            traces=[1, 2, 3, 4],
            layout=dict(annotations=[note_box(explanation(f))]),
        ))
    colour0, size0 = node_state(0)
    hover0 = [_unit_hover(tree, view, u, labels, lang, False) for u in range(view.n_units)]
    ex = np.column_stack([view.x[view.edges[:, 0]], view.x[view.edges[:, 1]], np.full(len(view.edges), np.nan)]).ravel()
    ey = np.column_stack([view.y[view.edges[:, 0]], view.y[view.edges[:, 1]], np.full(len(view.edges), np.nan)]).ravel()
    top = np.flatnonzero((view.level - view.root_level <= 3) & legible[view.level - view.root_level]
                         & (np.bincount(view.level - view.root_level)[view.level - view.root_level] <= 16))
    top = np.array([u for u in top if len(view.codes[u]) == 1], dtype=np.int64)
    genre_labels = go.Scatter(x=view.x[top], y=view.y[top] + 0.28, mode="text",
                              text=[shorten(labels[int(view.codes[u][0])], 22) for u in top],
                              textfont=dict(size=9, color="#555555"), hoverinfo="skip", showlegend=False)
    fig = go.Figure(
        data=[
            go.Scattergl(x=ex, y=ey, mode="lines", line=dict(color="#d0d0d0", width=0.8), hoverinfo="skip",
                         showlegend=False),
            go.Scattergl(x=view.x, y=view.y, mode="markers", hovertext=hover0, hoverinfo="text",
                         customdata=[int(c[0]) if len(c) == 1 else -1 for c in view.codes],
                         marker=dict(size=size0, color=colour0, line=dict(width=0), **_NODE_SCALE),
                         name=translate("tdm_legend_nodes", lang)),
            go.Scattergl(x=[], y=[], mode="markers", hoverinfo="text", name=translate("tdm_legend_scored", lang),
                         marker=dict(size=11, colorscale="Viridis")),
            go.Scattergl(x=[], y=[], mode="markers", hoverinfo="text", name=translate("tdm_legend_result", lang),
                         marker=dict(size=12, symbol="star")),
            go.Scatter(x=[], y=[], mode="markers+text", textposition="bottom center", hoverinfo="text",
                       textfont=dict(size=9, color="#616161"), name=translate("tdm_legend_stub", lang),
                       marker=dict(size=10, symbol=STUB_SYMBOL, color=PRUNED)),
            genre_labels,
        ],
        frames=frames,
    )
    slider_labels = ["start"] + [s.stage.replace("level", "L") for s in steps] + ["top-K"]
    animation_controls(fig, slider_labels, lang)
    fig.update_layout(annotations=[note_box(explanation(0))])
    fig.update_xaxes(visible=False, range=[-0.02, 1.02], domain=[0.0, 0.92])  # room for the colour bar, always
    depth = int(view.level.max()) - view.root_level  # the deepest level drawn (a zoomed search may stop early)
    fig.update_yaxes(range=[-depth - 0.6, 0.6], showgrid=False, zeroline=False, showline=False, fixedrange=True,
                     tickvals=[-d for d in range(depth + 1)],
                     ticktext=[f"L{view.root_level + d}" for d in range(depth + 1)], tickfont=dict(size=10))
    base_layout(fig, height=height)
    fig.update_layout(margin=dict(l=40, r=10, t=130, b=80), showlegend=True,
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0))
    return fig


def marker_count(fig: go.Figure) -> int:
    """The most markers any state of a figure shows: its traces with each frame's updates applied,
    counting the points of marker traces whose size is not 0 (a pruned node hands its point over
    to the stub trace by taking size 0)."""
    def shown(trace, base) -> int:
        x = trace.x if trace.x is not None else base.x
        if x is None or "markers" not in (base.mode or "markers"):
            return 0
        size = trace.marker.size if trace.marker.size is not None else base.marker.size
        present = np.array([v is not None for v in x], dtype=bool)
        if size is not None and np.ndim(size):
            present &= np.asarray(size, dtype=float) > 0
        return int(present.sum())

    base = dict(enumerate(fig.data))
    most = sum(shown(t, t) for t in base.values())
    for frame in fig.frames:
        state = dict(base)
        state.update(zip(frame.traces, frame.data))
        most = max(most, sum(shown(state[i], base[i]) for i in base))
    return most


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
