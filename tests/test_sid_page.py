"""The Semantic-IDs page (issue 14) through Streamlit's AppTest, in both languages, on ml-100k (quick profile)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from recall_core.i18n import translate
from test_app import assert_clean, clear_caches, fresh_app  # noqa: F401  (clear_caches is a fixture)

pytestmark = pytest.mark.slow


def table_with(at, key: str, lang: str):
    column = translate(key, lang)
    return next(d.value for d in at.dataframe if column in d.value.columns)


def lattice(at) -> dict:
    """The beam animation's Plotly spec (the chart with the lattice's frames)."""
    return next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if '"frames"' in c.proto.spec)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_sid_page(trained, ml100k, lang, clear_caches):
    sid = trained("sid")
    at = fresh_app(lang).run()
    at.switch_page("app_pages/sid.py").run()
    assert_clean(at)
    assert at.title[0].value == translate("sid_title", lang)
    assert len(at.get("plotly_chart")) >= 3  # map, usage bars, lattice (+ budget curve)
    assert at.get("download_button")
    assert at.select_slider(key="sid_beam").value == sid.cfg.beam  # the validation-chosen B
    usage = table_with(at, "sid_col_used", lang)
    assert len(usage) == sid.cfg.levels
    assert len(lattice(at)["frames"]) == sid.cfg.levels + 1  # one frame per decoder step
    # another user, a narrow beam, a smaller K: the steps table and the ranked list follow
    at.selectbox(key=f"user_{lang}").set_value(4).run()
    at.select_slider(key="sid_beam").set_value(5).run()
    at.slider(key="sid_k").set_value(10).run()
    assert_clean(at)
    steps = table_with(at, "sid_col_cut", lang)
    assert steps[translate("col_kept", lang)].tolist() == [5] * (sid.cfg.levels + 1)
    ranking = table_with(at, "col_hit", lang)
    assert len(ranking) == 5  # B = 5 finished beams, fewer than K = 10
    cost = next(c.value for c in at.caption if c.value.startswith(("Cost:", "代价：")))
    assert str(int(np.asarray(steps[translate("col_total", lang)])[-1])) in cost


def test_sid_page_deep_link_and_language_switch(trained, ml100k, clear_caches):
    trained("sid")
    rows = {int(ml100k.raw_users[u]): r for r, u in enumerate(ml100k.test.users)}
    raw = sorted(rows)[7]
    at = fresh_app("zh")
    at.switch_page("app_pages/sid.py")
    at.query_params["user"] = str(raw)
    at.run()
    assert_clean(at)
    assert at.session_state["user__value"] == rows[raw]
    at.sidebar.radio(key="lang").set_value("en").run()
    assert_clean(at)
    assert at.title[0].value == "Semantic IDs — generating the item"
    assert at.session_state["user__value"] == rows[raw]  # the user survives the switch
