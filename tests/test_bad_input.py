"""Odd input at the API and in the app: clear messages, nothing lost."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from conftest import ROOT
from recall_core.dr import DRConfig, rerun_path_step, train_dr
from recall_core.nann import NANNConfig, train_nann
from recall_core.protocol import checked_size
from recall_core.tdm import TDMConfig, train_tdm
from recall_core.two_tower import TwoTowerConfig, train_two_tower

TINY = {
    "two_tower": (train_two_tower, TwoTowerConfig(dim=8, hidden=16, epochs=1)),
    "tdm": (train_tdm, TDMConfig(dim=8, attention_hidden=8, hidden=(16, 8), epochs=1, tree_rounds=0, beam=8)),
    "dr": (train_dr, DRConfig(width=3, depth=2, dim=8, code_dim=4, hidden=16, epochs=1, round_epochs=1, em_rounds=1,
                              beam=3)),
    "nann": (train_nann, NANNConfig(dim=8, hidden=(16,), negatives=10, epochs=1, hnsw_M=4, ef=(4, 8), steps=(1, 1))),
}


@pytest.fixture(scope="module")
def tiny_models(synthetic):
    return {name: fn(synthetic, cfg, seed=0) for name, (fn, cfg) in TINY.items()}


@pytest.mark.parametrize("method", list(TINY))
def test_k_larger_than_the_catalogue_returns_what_exists(tiny_models, synthetic, method):
    held = synthetic.test
    result = tiny_models[method].retrieve(held.inputs[:3], synthetic.n_items + 500, users=held.users[:3])
    assert result.items.shape == (3, synthetic.n_items + 500)
    for items, history in zip(result.items, held.inputs[:3]):
        found = items[items >= 0]
        assert len(found) == len(set(found.tolist())) and not set(found.tolist()) & set(history.tolist())
    brute = tiny_models[method].brute_force(held.inputs[:3], synthetic.n_items + 500, users=held.users[:3])
    assert ((brute.items >= 0).sum(1) == [synthetic.n_items - len(set(h.tolist())) for h in held.inputs[:3]]).all()


@pytest.mark.parametrize("method, knob", [("tdm", "beam"), ("dr", "beam"), ("nann", "ef0"), ("nann", "steps0"),
                                          ("two_tower", "ef")])
@pytest.mark.parametrize("value", [0, -3, 2.5, "ten", 10 ** 9])
def test_search_knobs_past_their_bounds_are_refused_clearly(tiny_models, synthetic, method, knob, value):
    with pytest.raises(ValueError, match=knob):
        tiny_models[method].retrieve(synthetic.test.inputs[:1], 10, **{knob: value})


@pytest.mark.parametrize("method", list(TINY))
def test_k_zero_or_negative_is_refused(tiny_models, synthetic, method):
    with pytest.raises(ValueError, match="k must be"):
        tiny_models[method].retrieve(synthetic.test.inputs[:1], 0)


def test_knobs_at_their_bounds_work(tiny_models, synthetic):
    h = synthetic.test.inputs[:2]
    assert tiny_models["tdm"].retrieve(h, 1, beam=1).items.shape == (2, 1)
    assert tiny_models["dr"].retrieve(h, 1, beam=1).items.shape == (2, 1)
    assert tiny_models["nann"].retrieve(h, 1, ef0=1, steps0=1).items.shape == (2, 1)
    assert tiny_models["two_tower"].retrieve(h, 1, ef=1).items.shape == (2, 1)


def test_negative_or_infinite_alpha_is_refused(tiny_models):
    for alpha in (-1e-3, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="alpha"):
            rerun_path_step(tiny_models["dr"], alpha)
    assert rerun_path_step(tiny_models["dr"], 0.0).shape == tiny_models["dr"].pi.shape


def test_empty_history_is_a_valid_query(tiny_models, synthetic):
    for model in tiny_models.values():
        result = model.retrieve([np.array([], dtype=np.int64)], 5, users=synthetic.test.users[:1])
        assert (result.items[0] >= 0).all()


def test_checked_size_messages():
    assert checked_size("beam", 5) == 5 and checked_size("beam", np.int64(7)) == 7
    with pytest.raises(ValueError, match="beam must be at least 1, got 0"):
        checked_size("beam", 0)
    with pytest.raises(ValueError, match="between 1 and 10"):
        checked_size("ef", 11, 1, 10)


# ------------------------------------------------------------------ the app


@pytest.fixture
def fresh_caches():
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


def app(lang="en") -> AppTest:
    at = AppTest.from_file(str(ROOT / "recall_lab.py"), default_timeout=240)
    at.session_state["lang"] = lang
    return at


def test_uploading_a_zip_that_is_not_movielens(tmp_path, monkeypatch, fresh_caches):
    import io
    import zipfile

    monkeypatch.setenv("RECALL_LAB_DATA", str(tmp_path))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("holiday/photo.jpg", b"\xff\xd8\xff")
    at = app().run()
    at.sidebar.file_uploader(key="upload").set_value(("photos.zip", buf.getvalue(), "application/zip")).run()
    assert not at.exception
    assert any("not a ml-100k release" in e.value for e in at.sidebar.error)
    assert not (tmp_path / "datasets" / "ml-100k").exists()


def test_uploading_garbage_bytes(tmp_path, monkeypatch, fresh_caches):
    monkeypatch.setenv("RECALL_LAB_DATA", str(tmp_path))
    at = app().run()
    at.sidebar.file_uploader(key="upload").set_value(("ml-100k.zip", b"not a zip" * 100, "application/zip")).run()
    assert not at.exception
    assert any("not a readable zip" in e.value for e in at.sidebar.error)


def test_uploading_the_real_zip_prepares_the_data(tmp_path, monkeypatch, fresh_caches, shared_movielens):
    monkeypatch.setenv("RECALL_LAB_DATA", str(tmp_path))
    at = app().run()
    blob = (shared_movielens / "ml-100k.zip").read_bytes()
    at.sidebar.file_uploader(key="upload").set_value(("ml-100k.zip", blob, "application/zip")).run()
    assert not at.exception
    from recall_core.movielens import is_ready

    assert is_ready("ml-100k", tmp_path)
    assert not list((tmp_path / "uploads").iterdir())  # the uploaded copy is not kept


def test_local_path_that_does_not_exist(tmp_path, monkeypatch, fresh_caches):
    monkeypatch.setenv("RECALL_LAB_DATA", str(tmp_path))
    at = app().run()
    at.sidebar.text_input(key="local_path").set_value(str(tmp_path / "nowhere")).run()
    at.sidebar.button(key="use_local").click().run()
    assert not at.exception
    assert any("No such file or folder" in e.value for e in at.sidebar.error)


@pytest.mark.slow
@pytest.mark.parametrize("wanted", ["999999", "abc", "-1", "1" * 60])
def test_unknown_user_in_the_link_is_explained(trained, ml100k, wanted, fresh_caches):
    trained("two_tower")
    at = app()
    at.query_params["user"] = wanted
    at.run()
    at.switch_page("app_pages/two_tower.py").run()
    assert not at.exception and not at.error
    assert any("is not the id of a test user" in w.value for w in at.warning)


@pytest.mark.slow
def test_known_user_in_the_link_is_selected(trained, ml100k, fresh_caches):
    trained("two_tower")
    row = 5
    raw = int(ml100k.raw_users[ml100k.test.users[row]])
    at = app()
    at.query_params["user"] = str(raw)
    at.run()
    at.switch_page("app_pages/two_tower.py").run()
    assert at.selectbox(key="user_en").value == row
