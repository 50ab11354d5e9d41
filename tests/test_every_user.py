"""Each method page must work for every test user: the searches and figures behind them, all 150 users."""
from __future__ import annotations

import numpy as np
import pytest

from recall_core.viz.dr import beam_animation
from recall_core.viz.nann import search_animation
from recall_core.viz.tdm import beam_search_animation, node_labels

pytestmark = pytest.mark.slow


def test_tdm_figures_for_every_test_user(trained, ml100k):
    tdm = trained("tdm")
    cat = ml100k.catalogue
    labels = node_labels(tdm.tree, cat.genres, cat.genre_names, cat.titles)
    result = tdm.retrieve(ml100k.test.inputs, 50, trace=True)
    for trace, truth in zip(result.traces, ml100k.test.truths):
        fig = beam_search_animation(tdm.tree, trace, labels, truth, "zh")
        assert len(fig.frames) == len(trace.steps) + 2
    assert (result.items >= 0).all()


def test_dr_figures_for_every_test_user(trained, ml100k):
    dr = trained("dr")
    result = dr.retrieve(ml100k.test.inputs, 50, trace=True)
    for trace, truth in zip(result.traces, ml100k.test.truths):
        fig = beam_animation(trace, dr.cfg.width, dr.cfg.depth, ml100k.catalogue.titles, truth, "en")
        assert len(fig.frames) == dr.cfg.depth + 1
    assert ((result.items >= 0).sum(1) > 0).all()


def test_nann_figures_for_every_test_user(trained, ml100k):
    nann = trained("nann")
    xy = np.random.default_rng(0).normal(size=(ml100k.n_items, 2))
    genre_text = [ml100k.catalogue.genre_label(i) for i in range(ml100k.n_items)]
    test = ml100k.test
    result = nann.retrieve(test.inputs, 50, trace=True, users=test.users)
    brute = nann.brute_force(test.inputs, 50, users=test.users).items
    for trace, truth, best in zip(result.traces, test.truths, brute):
        fig = search_animation(xy, trace, ml100k.catalogue.titles, genre_text, truth, ml100k.n_items, "zh", brute=best)
        assert len(fig.frames) == len(trace.steps) + 2
    assert (result.items >= 0).all()
