"""2-D maps are made once, right after training, and stored beside the artifact: no page visit computes UMAP."""
from __future__ import annotations

import numpy as np
import pytest

from recall_core import artifacts, projection
from recall_core.methods import load_or_train, map_path, prepare_maps
from recall_core.two_tower import TwoTowerConfig

TINY = TwoTowerConfig(dim=16, hidden=32, epochs=1, batch_size=256)


def no_umap(*args, **kwargs):
    raise AssertionError("UMAP was computed again")


def test_training_stores_the_map_and_later_calls_only_read_it(tmp_path, synthetic, monkeypatch):
    model = load_or_train(synthetic, "two_tower", config=TINY, root=tmp_path, device="cpu")
    path = artifacts.artifact_path(synthetic.name, "two_tower", 0, tmp_path)
    assert map_path(path).exists()
    monkeypatch.setattr(projection, "umap_2d", no_umap)
    coords = prepare_maps(model, "two_tower", path)
    assert coords.shape == (synthetic.n_items, 2) and np.isfinite(coords).all()
    again = load_or_train(synthetic, "two_tower", config=TINY, root=tmp_path, device="cpu")  # loaded, not retrained
    np.testing.assert_array_equal(prepare_maps(again, "two_tower", path), coords)


def test_a_map_of_other_vectors_is_recomputed(tmp_path, synthetic):
    model = load_or_train(synthetic, "two_tower", config=TINY, root=tmp_path, device="cpu")
    path = artifacts.artifact_path(synthetic.name, "two_tower", 0, tmp_path)
    first = prepare_maps(model, "two_tower", path)
    model.item_vecs = model.item_vecs[::-1].copy()  # as if retrained: the stored key no longer matches
    assert not np.array_equal(prepare_maps(model, "two_tower", path), first)


def test_methods_without_a_map_store_none(tmp_path, synthetic):
    assert prepare_maps(object(), "dr", tmp_path / "dr.pt") is None


@pytest.mark.slow
@pytest.mark.parametrize("page, method", [("app_pages/two_tower.py", "two_tower"), ("app_pages/nann.py", "nann")])
def test_pages_draw_their_map_without_computing_umap(trained, page, method, monkeypatch):
    import streamlit as st

    from test_app import assert_clean, fresh_app

    trained(method)
    st.cache_resource.clear()
    monkeypatch.setattr(projection, "umap_2d", no_umap)
    at = fresh_app("en").run()
    at.switch_page(page).run()
    assert_clean(at)
    assert at.get("plotly_chart")
    st.cache_resource.clear()


def test_training_stores_the_test_evaluation_for_the_home_page(tmp_path, synthetic, monkeypatch):
    """The Home page's row of a model is evaluated once, at training time, and read without loading the model;
    it belongs to one artifact (a retrained model's stamp no longer matches it)."""
    import json

    from recall_core import methods
    from recall_core.protocol import evaluate

    monkeypatch.setattr(methods, "default_config", lambda method, dataset=None: TINY if method == "two_tower" else None)
    model = methods.load_or_train(synthetic, "two_tower", root=tmp_path, device="cpu")
    stored = methods.stored_evaluation(synthetic, "two_tower", root=tmp_path)
    assert stored["search"] == stored["validation_search"]["setting"]  # the index at its validation setting
    fresh = evaluate(model, synthetic, per_user=True, search=stored["search"])
    assert stored is not None and stored["recall@50"] == pytest.approx(fresh["recall@50"])
    assert stored["per_user_recall@50"] == pytest.approx(fresh["per_user_recall@50"])  # Compare's segments
    for baseline in methods.BASELINES:  # the baselines' rows are stored with the first model of a split
        row = methods.stored_evaluation(synthetic, baseline, root=tmp_path)
        assert row["method"] == baseline and len(row["per_user_recall@50"]) == len(synthetic.test)
    item_cf = methods.evaluation_path(artifacts.artifact_path(synthetic.name, "item_cf", 0, tmp_path))
    item_cf.write_text(json.dumps({"key": {"format": 1}, "report": {"recall@50": 9.0}}))  # an older format
    assert methods.stored_evaluation(synthetic, "item_cf", root=tmp_path) is None
    again = methods.evaluation_row(synthetic, "item_cf", lambda: methods.get_spec("item_cf").build(synthetic),
                                   root=tmp_path)
    assert again["recall@50"] < 1 and methods.stored_evaluation(synthetic, "item_cf", root=tmp_path) == again
    path = artifacts.artifact_path(synthetic.name, "two_tower", 0, tmp_path)
    meta = json.loads(path.with_suffix(".json").read_text())
    meta["created"] = "another training"
    path.with_suffix(".json").write_text(json.dumps(meta))
    assert methods.stored_evaluation(synthetic, "two_tower", root=tmp_path) is None
    methods.evaluation_path(path).write_text("not json")  # unreadable: recomputed by the page, never an error
    assert methods.stored_evaluation(synthetic, "two_tower", root=tmp_path) is None


def test_umap_is_compiled_once_per_process_in_the_background():
    """load_or_train starts UMAP's compilation when a model that needs a map begins training:
    one thread per process (the neighbours are not numba's, so every metric shares it), and a later map
    finds the code compiled."""
    from recall_core.projection import prewarm_umap, umap_2d

    thread = prewarm_umap("cosine")
    assert prewarm_umap("cosine") is thread and prewarm_umap("euclidean") is thread and thread.daemon
    thread.join(300)
    assert not thread.is_alive()
    coords = umap_2d(np.random.default_rng(1).normal(size=(40, 4)).astype(np.float32), metric="cosine")
    assert coords.shape == (40, 2) and np.isfinite(coords).all()


def test_umap_keeps_its_compiled_layout_code_for_the_next_process(tmp_path):
    """Every model's map is made in its own training process: umap's numba functions are cached on disk, so a
    second process loads the layout code a first one compiled instead of compiling it again."""
    import subprocess
    import sys

    from recall_core.paths import PROJECT_ROOT
    from recall_core.projection import _umap

    layout = _umap().layouts._nb_optimize_layout_euclidean_single_epoch  # the layout step (random_state set)
    assert type(layout._cache).__name__ != "NullCache"
    script = ("import numpy as np; from recall_core.projection import umap_2d, _umap; "
              "umap_2d(np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)); "
              "print(len(_umap().layouts._nb_optimize_layout_euclidean_single_epoch.stats.cache_hits))")
    env = {**__import__("os").environ, "NUMBA_CACHE_DIR": str(tmp_path), "PYTHONPATH": str(PROJECT_ROOT)}
    runs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300,
                           cwd=str(PROJECT_ROOT)) for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr[-2000:]
    assert [int(r.stdout.split()[-1]) for r in runs] == [0, 1]  # compiled, then loaded from the cache


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_nearest_neighbours_match_a_full_sort(metric):
    """The kNN graph UMAP is given: each point first (distance 0), then its k - 1 nearest by a full sort,
    across chunk boundaries."""
    from recall_core.projection import nearest_neighbours

    x = np.random.default_rng(3).normal(size=(130, 6)).astype(np.float32)
    idx, dist = nearest_neighbours(x, 7, metric, chunk=50)
    if metric == "cosine":
        unit = x / np.linalg.norm(x, axis=1, keepdims=True)
        full = 1.0 - unit @ unit.T
    else:
        full = np.linalg.norm(x[:, None, :] - x[None, :, :], axis=2)
    np.fill_diagonal(full, -1.0)
    oracle = np.argsort(full, axis=1)[:, :7]
    assert idx.shape == (130, 7) and idx.dtype == np.int32 and dist.dtype == np.float32
    assert (idx[:, 0] == np.arange(130)).all() and (dist[:, 0] == 0).all()
    np.testing.assert_array_equal(np.sort(idx, 1), np.sort(oracle, 1))
    np.testing.assert_allclose(dist[:, 1:], np.take_along_axis(full, oracle, 1)[:, 1:], atol=1e-4)
    assert (np.diff(dist, axis=1) >= 0).all()


def test_nearest_neighbours_refuse_bad_requests():
    from recall_core.projection import nearest_neighbours

    with pytest.raises(ValueError, match="metric"):
        nearest_neighbours(np.zeros((4, 2), np.float32), 2, "manhattan")
    with pytest.raises(ValueError, match="k must be"):
        nearest_neighbours(np.zeros((0, 2), np.float32), 2)
