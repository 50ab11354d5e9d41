"""TDM figure builders: frames follow the trace."""
from __future__ import annotations

import numpy as np

from recall_core.tdm_tree import tree_from_order
from recall_core.viz.curves import budget_curve_figure
from recall_core.viz.tdm import (KEPT_COLOUR, NODE_COLOURS, PRUNED, beam_search_animation, node_labels,
                                 sample_path_figure)
from test_tdm import OracleTDM


def make_trace(n=300, beam=6, k=5):
    rng = np.random.default_rng(0)
    tree = tree_from_order(rng.permutation(n), 2, n)
    oracle = OracleTDM(tree, rng.normal(size=(1, n)), beam)
    result = oracle.retrieve([np.array([], dtype=np.int64)], k, trace=True)
    genres = np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)]
    labels = node_labels(tree, genres, ["A", "B", "C"], [f"movie {i}" for i in range(n)])
    return tree, result.traces[0], labels


def test_one_frame_per_level_plus_start_and_result():
    tree, trace, labels = make_trace()
    fig = beam_search_animation(tree, trace, labels, truth=trace.items[:2], lang="en")
    assert len(fig.frames) == len(trace.steps) + 2
    assert len(fig.layout.sliders[0].steps) == len(fig.frames)
    assert [b.label for b in fig.layout.updatemenus[0].buttons] == ["▶ Play", "⏸ Pause"]


def test_frames_highlight_the_traced_beam():
    tree, trace, labels = make_trace()
    fig = beam_search_animation(tree, trace, labels, truth=np.array([]), lang="en")
    codes = np.array(fig.data[1].customdata)  # the node each marker stands for (-1: a group of nodes)
    index = {c: j for j, c in enumerate(codes.tolist())}
    assert set(np.concatenate([s.scored for s in trace.steps]).tolist()) <= set(index)  # small tree: no groups
    x = np.array(fig.data[1].x)
    for i, step in enumerate(trace.steps, start=1):
        current = fig.frames[i].data[1]
        assert len(current.x) == len(step.scored)
        ringed = np.array(current.marker.line.width) > 0
        assert ringed.sum() == len(step.kept)  # the kept beam is ringed
        assert sorted(np.array(current.customdata)[ringed]) == sorted(step.kept.tolist())
        assert np.allclose(sorted(np.array(current.x)[ringed]), sorted(x[[index[c] for c in step.kept]]))
        # in the next frame the kept nodes turn orange and the rest of this level becomes grey ▸ stubs
        colours = np.array(NODE_COLOURS)[np.array(fig.frames[i + 1].data[0].marker.color)]
        assert all(colours[index[c]] == KEPT_COLOUR for c in step.kept)
        pruned = set(step.scored.tolist()) - set(step.kept.tolist())
        assert all(colours[index[c]] == PRUNED for c in pruned)
        if step.level < tree.depth:  # a pruned subtree is drawn as one counted stub
            stubs = fig.frames[i + 1].data[3]
            at = {(round(a, 9), round(b, 9)) for a, b in zip(stubs.x, stubs.y)}
            y = np.array(fig.data[1].y)
            assert all((round(x[index[c]], 9), round(y[index[c]], 9)) in at for c in pruned)
    final = fig.frames[-1].data[2]
    assert len(final.x) == (trace.items >= 0).sum()


def test_explanations_count_scored_nodes():
    tree, trace, labels = make_trace()
    fig = beam_search_animation(tree, trace, labels, truth=np.array([]), lang="en")
    last = fig.frames[-2].layout.annotations[0].text
    assert str(trace.scored_so_far()[-1]) in last and str(tree.n_items) in last
    html = fig.to_html(include_plotlyjs=True, full_html=True)
    assert "plotly" in html.lower() and len(html) < 6_000_000


def test_sample_path_and_budget_figures():
    tree, trace, labels = make_trace()
    anc = tree.ancestors(np.array([7]))[0, 1:]
    codes = np.concatenate([anc, tree.nodes_at(3)[:2]])
    lab = np.concatenate([np.ones(len(anc)), np.zeros(2)])
    fig = sample_path_figure(tree, codes, lab, np.arange(len(codes)), labels, "zh")
    assert len(fig.data[2].x) == len(anc) + 1  # root + the positive path
    assert len(fig.data[3].x) == 2
    rows = [{"beam": 1, "scored_per_user": 10, "recall@50": 0.1}, {"beam": 2, "scored_per_user": 20, "recall@50": 0.2}]
    curve = budget_curve_figure({"TDM": rows}, {"TDM": "beam"}, {"TDM": 0.3}, "en")
    assert list(curve.data[0].y) == [0.1, 0.2] and list(curve.data[0].text) == ["beam=1", "beam=2"]


def test_budget_figure_with_several_curves_keeps_labels_in_the_hover():
    rows = {"a": [{"ef": 16, "scored_per_user": 100, "recall@50": 0.3}, {"ef": 64, "scored_per_user": 300,
                                                                       "recall@50": 0.4}],
            "b": [{"beam": 5, "scored_per_user": 50, "recall@50": 0.2}]}
    fig = budget_curve_figure(rows, {"a": "ef", "b": "beam"}, {"a": 0.41, "b": 0.25}, "en")
    curves = [t for t in fig.data if t.showlegend is not False]
    ceilings = [t for t in fig.data if t.showlegend is False]
    assert [t.name for t in curves] == ["a", "b"] and all("text" not in t.mode for t in curves)
    assert list(curves[0].text) == ["ef=16", "ef=64"]  # still in the hover
    assert [tuple(t.y) for t in ceilings] == [(0.41, 0.41), (0.25, 0.25)]
    assert tuple(ceilings[0].x) == (50, 300) and ceilings[0].legendgroup == "a"  # spans every curve, toggles with it
    assert not fig.layout.annotations


def test_a_beam_widened_by_the_history_is_ringed_and_explained():
    """With the history excluded inside the beam, a level may keep more than B nodes: the
    animation rings every kept node and the explanation says how many more than B."""
    rng = np.random.default_rng(1)
    n, beam = 300, 6
    tree = tree_from_order(rng.permutation(n), 2, n)
    scores = rng.normal(size=(1, n))
    history = np.argsort(-scores[0])[:20]  # the user's 20 best items are watched
    trace = OracleTDM(tree, scores, beam).retrieve([history], 5, trace=True).traces[0]
    genres = np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)]
    labels = node_labels(tree, genres, ["A", "B", "C"], [f"movie {i}" for i in range(n)])
    fig = beam_search_animation(tree, trace, labels, truth=np.array([]), lang="en")
    widened = [i for i, s in enumerate(trace.steps, start=1) if s.level < tree.depth and len(s.kept) > beam]
    assert widened  # the watched items force extra width somewhere
    for i in widened:
        step = trace.steps[i - 1]
        assert (np.array(fig.frames[i].data[1].marker.line.width) > 0).sum() == len(step.kept)
        assert f"{len(step.kept) - beam} more than B" in fig.frames[i].layout.annotations[0].text


def test_figures_are_sent_on_plotly_white():
    """The template is Plotly's default, not set on each figure (issue 13 §3: setting it copies the whole template),
    and still arrives with the figure as Streamlit serialises it."""
    import json

    import plotly.io as pio

    rows = [{"beam": 1, "scored_per_user": 10, "recall@50": 0.1}]
    fig = budget_curve_figure({"TDM": rows}, {"TDM": "beam"}, {"TDM": 0.3}, "en")
    sent = json.loads(pio.to_json(fig.to_dict(), validate=False))  # what st.plotly_chart does with a Figure
    from plotly.utils import PlotlyJSONEncoder

    def template(name: str) -> dict:
        return json.loads(json.dumps(pio.templates[name].to_plotly_json(), cls=PlotlyJSONEncoder))

    assert sent["layout"]["template"] == template("plotly_white") != template("plotly")
