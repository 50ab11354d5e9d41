"""A first run: with data but no models every model page says so and shows the background training's
progress; models train in the background in teaching order; a page goes live when its model arrives."""
from __future__ import annotations

import shutil
import threading
import time

import pytest
import streamlit as st

from test_app import assert_clean, fresh_app

MODEL_PAGES = {"app_pages/two_tower.py": "two_tower", "app_pages/tdm.py": "tdm", "app_pages/dr.py": "dr",
               "app_pages/nann.py": "nann"}


@pytest.fixture
def empty_root(tmp_path, data_root, monkeypatch):
    """ml-100k ready, no trained model; fresh server caches (the trainer is a cached resource)."""
    shutil.copytree(data_root / "datasets", tmp_path / "datasets")
    monkeypatch.setenv("RECALL_LAB_DATA", str(tmp_path))
    st.cache_resource.clear()
    yield tmp_path
    from ui.state import trainer

    trainer().cancel_queued()
    assert trainer().wait(300)
    st.cache_resource.clear()


@pytest.mark.parametrize("lang, words", [("zh", "需要已训练的"), ("en", "needs a trained")])
def test_every_model_page_says_its_model_is_missing(empty_root, lang, words):
    """Autotrain is off under test and nothing is queued: each page says the model is missing (not that it
    is training) and offers to train it."""
    for page, method in MODEL_PAGES.items():
        at = fresh_app(lang).run()
        at.switch_page(page).run()
        assert_clean(at)
        assert any(words in w.value for w in at.warning), page
        assert not any("not ready yet" in i.value or "还没准备好" in i.value for i in at.info), page
        assert any(b.key == f"train-{method}" for b in at.button), page


def test_autotrain_queues_every_missing_model_in_teaching_order(empty_root, monkeypatch):
    """The sidebar of the first visit queues every missing model; the panel shows the queue (a stand-in
    trainer that only records the order: the real training is the next test's)."""
    monkeypatch.setenv("RECALL_LAB_AUTOTRAIN", "1")
    from ui.state import trainer

    ran, gate = [], threading.Event()

    def record(dataset, method, progress):
        ran.append(method)
        progress(0.4, "epoch 2/5")
        gate.wait(10)

    trainer().train = record
    at = fresh_app("en").run()
    assert not at.exception
    assert [j.method for j in trainer().status("ml-100k")][:4] == ["two_tower", "dr", "nann", "tdm"]
    texts = [p.proto.text for p in at.sidebar.get("progress")]
    assert texts[0].startswith(("two_tower training", "two_tower queued (0 ahead)")), texts  # the panel is in teaching order
    assert "tdm queued (3 ahead)" in texts[3], texts
    at.switch_page("app_pages/tdm.py").run()  # a page whose model is queued says so, and queues nothing twice
    assert_clean(at)
    assert any("not ready yet" in i.value for i in at.info)
    assert sum(j.method == "tdm" for j in trainer().status("ml-100k")) == 1
    gate.set()
    assert trainer().wait(30)
    started = sorted(trainer().status("ml-100k"), key=lambda j: j.started)  # two workers: started in this order
    assert [j.method for j in started][:4] == ["two_tower", "dr", "nann", "tdm"] and sorted(ran) == sorted(
        j.method for j in started)


@pytest.mark.slow
def test_the_two_tower_page_goes_live_when_its_background_training_ends(empty_root):
    from ui.state import trainer

    at = fresh_app("en").run()
    at.switch_page("app_pages/two_tower.py").run()
    start = time.perf_counter()
    at.button(key="train-two_tower").click().run()
    assert [j.method for j in trainer().status("ml-100k")] == ["two_tower"]
    assert trainer().wait(240)
    seconds = time.perf_counter() - start
    at.run()
    assert_clean(at)
    assert not any("not ready yet" in i.value for i in at.info)
    assert at.get("plotly_chart"), "the two-tower page draws once its model is there"
    print(f"two-tower trained in the background and the page was live after {seconds:.1f} s (quick profile)")


def test_sidebar_warms_up_the_ready_models_for_their_first_visitors(empty_root, data_root, trained, monkeypatch):
    """With a ready model on disk, the first script run loads it into the shared cache in the background
    (ui.state.warm_up), so a method page's first visitor does not wait for the load; then no page loads
    it again (loading is made to fail afterwards: the page must not need it)."""
    import ui.state as state

    _copy_ready_two_tower(trained, data_root, empty_root)
    monkeypatch.setenv("RECALL_LAB_WARM_UP", "1")
    at = fresh_app("en").run()
    assert_clean(at)
    for thread in [t for t in threading.enumerate() if t.name == "recall-lab-warm-up:ml-100k"]:
        thread.join(120)  # (it may be done already: two-tower loads in a moment)

    def no_loading(*args, **kwargs):
        raise AssertionError("the page loaded the model again")

    monkeypatch.setattr(state, "load_or_train", no_loading)
    at.switch_page("app_pages/two_tower.py").run()
    assert_clean(at)
    assert at.get("plotly_chart"), "the two-tower page draws from the warmed-up model"


def _copy_ready_two_tower(trained, data_root, root) -> None:
    trained("two_tower")  # the session's quick model, copied in as the root's only ready model
    (root / "artifacts" / "ml-100k").mkdir(parents=True, exist_ok=True)
    for path in (data_root / "artifacts" / "ml-100k").glob("two_tower-seed0.*"):
        shutil.copy2(path, root / "artifacts" / "ml-100k" / path.name)


def test_server_start_up_loads_the_ready_models_before_any_visitor(empty_root, data_root, trained, monkeypatch):
    """ui.startup.prepare_server (st.App's lifespan in app.py): imports and loads the default dataset's ready
    models into the shared cache; a page's first visit then loads nothing."""
    import ui.state as state
    from ui.startup import prepare_server

    _copy_ready_two_tower(trained, data_root, empty_root)
    assert prepare_server("ml-100k") == ["two_tower"]

    def no_loading(*args, **kwargs):
        raise AssertionError("the page loaded the model again")

    monkeypatch.setattr(state, "load_or_train", no_loading)
    at = fresh_app("en").run()
    at.switch_page("app_pages/two_tower.py").run()
    assert_clean(at)
    assert at.get("plotly_chart")


def test_start_up_warms_the_default_and_the_most_recently_trained_dataset(tmp_path, monkeypatch):
    import os

    from recall_core.artifacts import trained_datasets
    from ui.startup import datasets_to_warm

    monkeypatch.setenv("RECALL_LAB_DATA", str(tmp_path))
    assert trained_datasets() == [] and datasets_to_warm("ml-100k") == ["ml-100k"]
    for age, (name, model) in enumerate([("synthetic-10k", "tdm"), ("ml-100k", "two_tower"),
                                         ("world:multi-interest@0.5", "two_tower")]):
        path = tmp_path / "artifacts" / name / f"{model}-seed0.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
        os.utime(path, (1e9 - age * 1000, 1e9 - age * 1000))  # synthetic-10k the newest
    (tmp_path / "artifacts" / "synthetic-6k").mkdir()  # a folder without a model: not a trained dataset
    assert trained_datasets() == ["synthetic-10k", "ml-100k", "world:multi-interest@0.5"]
    assert datasets_to_warm("ml-100k") == ["ml-100k", "synthetic-10k"]


def test_start_up_loads_every_dataset_before_starting_the_training_zygote(monkeypatch):
    """The warm parent of the training processes (3-4 s of imports) starts after every warmed dataset's models
    are loaded, and only while the default dataset lacks a model."""
    import recall_core.train_zygote as train_zygote
    import ui.startup as startup
    from recall_core.methods import LEARNED

    calls = []
    ready = {"ml-100k": ["two_tower"], "synthetic-10k": list(LEARNED)}
    monkeypatch.setattr(startup, "datasets_to_warm", lambda: ["ml-100k", "synthetic-10k"])
    monkeypatch.setattr(startup, "prepare_server", lambda name: calls.append(name) or ready[name])
    monkeypatch.setattr(train_zygote, "ZYGOTE", type("Fake", (), {"start": lambda self: calls.append("zygote")})())
    startup._prepare_in_background()
    assert calls == ["ml-100k", "synthetic-10k", "zygote"]
    calls.clear()
    ready["ml-100k"] = list(LEARNED)  # every model ready: nothing will train
    startup._prepare_in_background()
    assert calls == ["ml-100k", "synthetic-10k"]


@pytest.mark.slow
def test_streamlit_run_app_warms_the_server_before_the_first_visitor(tmp_path, data_root, trained):
    """The real `streamlit run app.py`: the server loads the ready model on its own, with no browser connected."""
    from browser import streamlit_server

    shutil.copytree(data_root / "datasets", tmp_path / "datasets")
    _copy_ready_two_tower(trained, data_root, tmp_path)
    with streamlit_server(tmp_path, {"RECALL_LAB_WARM_UP": "1"}) as (url, proc):
        log_file = tmp_path / f"streamlit-{url.rsplit(':', 1)[1]}.log"
        deadline = time.time() + 120
        while "loaded two_tower" not in log_file.read_text() and time.time() < deadline:
            time.sleep(0.5)
        assert "loaded two_tower" in log_file.read_text(), log_file.read_text()[-2000:]
