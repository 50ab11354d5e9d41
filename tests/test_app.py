"""Streamlit AppTest for every page, in both languages, with and without data."""
from __future__ import annotations

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from conftest import ROOT

APP = str(ROOT / "recall_lab.py")
PAGES = ["app_pages/home.py", "app_pages/two_tower.py"]


def fresh_app(lang: str = "zh") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=240)
    at.session_state["lang"] = lang
    return at


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.fixture
def clear_caches():
    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    st.cache_resource.clear()


def test_without_data_every_page_explains_what_to_do(tmp_path, monkeypatch, clear_caches):
    monkeypatch.setenv("RECALL_LAB_DATA", str(tmp_path))
    at = fresh_app("en").run()
    assert not at.exception
    assert any("not downloaded yet" in w.value for w in at.sidebar.warning)
    assert any(b.label == "Download ml-100k" for b in at.sidebar.button)
    at.switch_page("app_pages/two_tower.py").run()
    assert not at.exception
    assert any("Prepare the dataset" in i.value for i in at.info)


def test_a_dataset_link_selects_the_dataset_once(tmp_path, monkeypatch, clear_caches):
    """?dataset=<name> (issue 13: a teacher's link to the larger catalogue) selects it in the sidebar once; the
    student can still switch; an unknown name is a warning, not an error, and changes nothing."""
    monkeypatch.setenv("RECALL_LAB_DATA", str(tmp_path))
    at = fresh_app("en")
    at.query_params["dataset"] = "ml-1m"
    at.run()
    assert_clean(at)
    assert at.session_state["dataset"] == "ml-1m"
    assert any(b.label == "Download ml-1m" for b in at.sidebar.button)
    at.sidebar.selectbox(key="dataset").set_value("ml-100k").run()
    assert at.session_state["dataset"] == "ml-100k"  # the same link is not applied again
    at.query_params["dataset"] = "ml-999m"
    at.run()
    assert_clean(at)
    assert at.session_state["dataset"] == "ml-100k"
    assert any("ml-999m" in w.value and "does not exist" in w.value for w in at.sidebar.warning)


def test_download_button_fetches_through_the_mirror(tmp_path, monkeypatch, clear_caches, shared_movielens):
    monkeypatch.setenv("RECALL_LAB_DATA", str(tmp_path))
    at = fresh_app("en")
    at.run()
    at.sidebar.button(key="download").click().run()
    assert_clean(at)
    from recall_core.movielens import is_ready

    assert is_ready("ml-100k", tmp_path)
    at = fresh_app("en").run()
    assert any("1447 movies" in c.value for c in at.sidebar.caption)


def test_download_offline_shows_instructions(tmp_path, monkeypatch, clear_caches):
    monkeypatch.setenv("RECALL_LAB_DATA", str(tmp_path))
    monkeypatch.setenv("RECALL_LAB_MIRROR", "http://127.0.0.1:9/none")
    at = fresh_app("en")
    at.run()
    at.sidebar.button(key="download").click().run()
    assert not at.exception
    assert any("RECALL_LAB_MIRROR" in e.value for e in at.sidebar.error)


@pytest.mark.slow
@pytest.mark.parametrize("lang, title", [("zh", "召回实验室"), ("en", "Recall Lab")])
def test_home_page(trained, lang, title, clear_caches):
    trained("two_tower")
    at = fresh_app(lang)
    at.run()
    assert_clean(at)
    assert title in at.title[0].value
    assert at.dataframe, "results table of the trained models"
    methods = at.dataframe[0].value["method"].tolist()
    assert {"popular", "item_cf", "two_tower"} <= set(methods)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_home_tells_the_evidence_from_a_report(tmp_path, monkeypatch, lang, clear_caches):
    """With a benchmark report, Home states the MovieLens verdicts and draws the constructed world's curve."""
    import json

    report = {"dataset": "ml-100k", "n_test_users": 150, "seeds": [0, 1, 2],
              "summary": [{"method": "two_tower", "recall@50": 0.404}, {"method": "item_cf", "recall@50": 0.363},
                          {"method": "dr", "recall@50": 0.41, "bruteforce_recall@50": 0.41, "index_over_ceiling": 1.0}],
              "paired": {"dr": {"index": {"mean": 0.006, "low": -0.01, "high": 0.02, "verdict": "within noise"},
                                "ceiling": {"mean": 0.006, "low": -0.01, "high": 0.02, "verdict": "within noise"}}},
              "world_sweep": [{"method": m, "knob": k, "seed": 0, "recall@50": r}
                              for m, rs in (("two_tower", (0.88, 0.18)), ("item_cf", (0.88, 0.78)))
                              for k, r in zip((0.0, 1.0), rs)]}
    (tmp_path / "bench" / "latest").mkdir(parents=True)
    (tmp_path / "bench" / "latest" / "report.json").write_text(json.dumps(report))
    monkeypatch.setenv("RECALL_LAB_DATA", str(tmp_path))
    at = fresh_app(lang).run()
    assert_clean(at)
    text = " ".join(m.value for m in at.markdown)
    assert "0.404" in text and ("within noise" in text if lang == "en" else "在噪声之内" in text)
    assert "(change -0.700)" in text or "（变化 -0.700）" in text
    assert len(at.get("plotly_chart")) == 1


@pytest.mark.slow
def test_language_switch_changes_text(trained, clear_caches):
    trained("two_tower")
    at = fresh_app("zh")
    at.run()
    assert "召回实验室" in at.title[0].value
    at.sidebar.radio(key="lang").set_value("en").run()
    assert "Recall Lab" in at.title[0].value


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_two_tower_page(trained, ml100k, lang, clear_caches):
    trained("two_tower")
    at = fresh_app(lang).run()
    at.switch_page("app_pages/two_tower.py").run()
    assert_clean(at)
    assert len(at.get("plotly_chart")) == 1
    assert len(at.dataframe) >= 2  # exact and ANN rankings
    # another user, a larger K and a narrower ef
    at.selectbox(key=f"user_{lang}").set_value(5).run()
    at.slider(key="tt_k").set_value(50).run()
    at.slider(key="tt_ef").set_value(50).run()
    assert_clean(at)
    ranking = at.dataframe[-1].value
    assert len(ranking) == 50


@pytest.mark.slow
def test_two_tower_page_without_model_offers_training(data_root, ml100k, tmp_path, monkeypatch, clear_caches):
    import shutil

    root = tmp_path / "root"
    shutil.copytree(data_root / "datasets", root / "datasets")
    monkeypatch.setenv("RECALL_LAB_DATA", str(root))
    at = fresh_app("en").run()
    at.switch_page("app_pages/two_tower.py").run()
    assert not at.exception
    assert any("needs a trained two_tower model" in w.value for w in at.warning)
    assert any(b.label == "Train two_tower now" for b in at.button)


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_tdm_page(trained, ml100k, lang, clear_caches):
    trained("tdm")
    at = fresh_app(lang).run()
    at.switch_page("app_pages/tdm.py").run()
    assert_clean(at)
    assert len(at.get("plotly_chart")) >= 2  # animation and the sample view (+ budget curve)
    assert at.get("download_button")
    at.select_slider(key="tdm_beam").set_value(8).run()
    at.selectbox(key=f"tdm_round_{lang}").set_value(0).run()
    at.selectbox(key=f"user_{lang}").set_value(3).run()
    assert_clean(at)


@pytest.mark.slow
@pytest.mark.parametrize("served", [0, 1, -1])
def test_tdm_page_opens_on_the_served_round_and_says_why(trained, ml100k, clear_caches, monkeypatch, served):
    """The round selector starts at the round the model serves (the best on validation); when that is not the
    last round, the page says so -- for the genre tree, that the paper's gain from tree learning is not reproduced."""
    import ui.state

    model = trained("tdm").at_round(served)
    real = ui.state.require_model
    monkeypatch.setattr(ui.state, "require_model", lambda method, seed=0: model if method == "tdm" else real(method, seed))
    at = fresh_app("en").run()
    at.switch_page("app_pages/tdm.py").run()
    assert_clean(at)
    assert at.selectbox(key="tdm_round_en").value == model.round_index
    assert "(best on validation: served)" in at.selectbox(key="tdm_round_en").options[model.round_index]
    notes = [i.value for i in at.info if "is the one served" in i.value]
    if model.round_index == len(model.rounds) - 1:
        assert not notes
    elif model.round_index == 0:
        assert len(notes) == 1 and "not reproduced" in notes[0]
    else:
        assert len(notes) == 1 and f"round {model.round_index} is the one served" in notes[0]


@pytest.mark.slow
def test_tdm_page_for_every_test_user(trained, ml100k, clear_caches):
    """The page must work for every test user; the search behind it is checked for all of them here."""
    tdm = trained("tdm")
    from recall_core.viz.tdm import beam_search_animation, node_labels

    labels = node_labels(tdm.tree, ml100k.catalogue.genres, ml100k.catalogue.genre_names, ml100k.catalogue.titles)
    result = tdm.retrieve(ml100k.test.inputs, 50, trace=True)
    for trace, truth in zip(result.traces[::10], ml100k.test.truths[::10]):
        fig = beam_search_animation(tdm.tree, trace, labels, truth, "en")
        assert len(fig.frames) == len(trace.steps) + 2
    assert all(t.items[0] >= 0 for t in result.traces)


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_dr_page(trained, ml100k, lang, clear_caches):
    trained("dr")
    at = fresh_app(lang).run()
    at.switch_page("app_pages/dr.py").run()
    assert_clean(at)
    assert len(at.get("plotly_chart")) >= 3  # lattice, path sizes, beam animation (+ budget curve)
    assert at.get("download_button")
    at.select_slider(key="dr_alpha").set_value(0.01).run()
    at.select_slider(key="dr_beam").set_value(5).run()
    at.selectbox(key="dr_movie").set_value(0).run()
    assert_clean(at)


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_nann_page(trained, ml100k, lang, clear_caches):
    trained("nann")
    trained("nann_plain")
    at = fresh_app(lang).run()
    at.switch_page("app_pages/nann.py").run()
    assert_clean(at)
    assert len(at.get("plotly_chart")) >= 2  # the search animation and the layer map (+ budget curve)
    at.select_slider(key="nann_ef0").set_value(100).run()
    at.slider(key="nann_steps0").set_value(4).run()
    at.toggle(key="nann_compare").set_value(False).run()
    at.radio(key=f"nann_layer_{lang}").set_value(0).run()
    assert_clean(at)
    at.radio(key=f"nann_variant_{lang}").set_value("nann_plain").run()
    assert_clean(at)


@pytest.mark.slow
def test_compare_page_without_a_report_reads_the_stored_evaluations(trained, ml100k, monkeypatch, clear_caches):
    """No benchmark report for the dataset (a new catalogue): the table, the curves and the segment bars come
    from the rows stored at training time; nothing is evaluated while the visitor waits."""
    from recall_core import compare, methods, protocol

    for method in ("two_tower", "tdm", "dr", "nann", "sid"):
        trained(method)
    monkeypatch.setattr(compare, "report_locations", lambda: [])

    def no_evaluation(*args, **kwargs):
        raise AssertionError("the page evaluated a model")

    monkeypatch.setattr(protocol, "evaluate", no_evaluation)
    at = fresh_app("en").run()
    at.switch_page("app_pages/compare.py").run()
    assert_clean(at)
    assert any(i.value.startswith("No benchmark report found") for i in at.info)
    table = at.dataframe[0].value.set_index("method")
    for method in ("popular", "item_cf", "two_tower", "tdm", "dr", "nann", "sid"):
        stored = methods.stored_evaluation(ml100k, method)
        assert table.loc[method, "recall@50"] == f"{stored['recall@50']:.3f}"
    assert pd.isna(table.loc["popular", "train_seconds"]) and table.loc["two_tower", "train_seconds"] > 0
    assert any("beam" in c.proto.spec for c in at.get("plotly_chart"))  # the budget curves, from the training logs
    chart = next(c for c in at.get("plotly_chart") if "%{x}: recall@50 %{y:.3f}" in c.proto.spec)  # the segment bars
    assert all(f'"{m}"' in chart.proto.spec for m in ("two_tower", "tdm", "dr", "nann", "sid"))


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_compare_page(trained, ml100k, lang, clear_caches):
    for method in ("two_tower", "tdm", "dr", "nann", "sid"):
        trained(method)
    at = fresh_app(lang).run()
    at.switch_page("app_pages/compare.py").run()
    assert_clean(at)
    assert len(at.dataframe) >= 6  # the table and five ranked lists
    assert not any("sid" in w.value for w in at.warning)  # no model missing: SID sits beside the other four
    at.slider(key="cmp_k").set_value(50).run()
    at.selectbox(key=f"user_{lang}").set_value(7).run()
    assert_clean(at)
    # who wins for whom: pick a segment, see the methods' bars, jump to one of its users
    at.selectbox(key=f"cmp_feature_{lang}").set_value("genre_entropy").run()
    at.radio(key=f"cmp_level_{lang}").set_value("high").run()
    assert_clean(at)
    chart = next(c for c in at.get("plotly_chart") if "%{x}: recall@50 %{y:.3f}" in c.proto.spec)  # the segment bars
    assert all(f'"{m}"' in chart.proto.spec for m in ("two_tower", "tdm", "dr", "nann"))
    links = at.get("page_link")
    assert len(links) == 5 and all("user=" in link.proto.query_string for link in links)
    # how cost grows: the scale study's report (committed in bench/scale), per scorer and threshold
    scale = ROOT / "bench" / "scale" / "report.json"
    if scale.exists():
        import json

        for lam in sorted({w["lam"] for w in json.loads(scale.read_text())["worlds"]}):
            at.radio(key=f"cmp_scale_lam_{lang}").set_value(lam).run()
            at.radio(key="cmp_scale_threshold").set_value(0.99).run()
            at.radio(key=f"cmp_scale_measure_{lang}").set_value("ms").run()
            assert_clean(at)
        assert any("kmedoids_tree" in str(df.value) for df in at.dataframe)
    user = int(at.selectbox(key="cmp_segment_user").value)
    at.switch_page("app_pages/tdm.py")
    at.query_params["user"] = str(user)
    at.run()
    assert_clean(at)
    rows = {int(ml100k.raw_users[u]): r for r, u in enumerate(ml100k.test.users)}
    assert at.session_state["user__value"] == rows[user]  # the TDM page opened on that user
