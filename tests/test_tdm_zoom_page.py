"""The TDM page's zoom into a subtree (issue 13 §4), driven through Streamlit's AppTest."""
from __future__ import annotations

import pytest

from recall_core.i18n import translate
from test_app import assert_clean, clear_caches, fresh_app  # noqa: F401  (clear_caches is a fixture)


def steps_table(at, lang):
    column = translate("col_pruned_subtrees", lang)
    return next(d.value for d in at.dataframe if column in d.value.columns)

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_tdm_page_zooms_into_a_subtree(trained, ml100k, lang, clear_caches):
    tdm = trained("tdm")
    at = fresh_app(lang).run()
    at.switch_page("app_pages/tdm.py").run()
    assert_clean(at)
    zoom = at.selectbox(key=f"tdm_zoom_{lang}")
    assert zoom.value == 0 and len(zoom.options) > 10  # the whole tree first, then nodes the search went through
    whole = steps_table(at, lang)
    zoom.select_index(len(zoom.options) - 1).run()  # the deepest node offered
    assert_clean(at)
    root = at.selectbox(key=f"tdm_zoom_{lang}").value
    tree = tdm.at_round(len(tdm.rounds) - 1).tree
    assert root > 0 and tree.level_of(root) >= 1
    zoomed = steps_table(at, lang)
    assert len(zoomed) < len(whole)  # only the levels at and below the node
    assert zoomed.iloc[0, 1] == 1  # below the start level the node itself is the one scored there
    assert zoomed.iloc[:, 1].sum() < whole.iloc[:, 1].sum()
    # another user: the node may not be in the new search, the page falls back to the whole tree cleanly
    at.selectbox(key=f"user_{lang}").set_value(3).run()
    assert_clean(at)
    at.select_slider(key="tdm_beam").set_value(8).run()
    assert_clean(at)
