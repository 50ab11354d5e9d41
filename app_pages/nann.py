"""NANN (二向箔): the HNSW layers, a search animated hop by hop, brute-force comparison, the ablation."""
import numpy as np
import pandas as pd
import streamlit as st

from recall_core.artifacts import artifact_path
from recall_core.i18n import translate
from recall_core.nann import graph_misses
from recall_core.methods import prepare_maps
from recall_core.viz.nann import graph_layer_map, search_animation
from ui.state import dataset, guard, lang, require_data, require_model, t
from ui.widgets import budget_section, html_download, localized_choice, ranked_result, user_picker


@st.cache_resource(show_spinner=False, max_entries=8)
def projection(name: str, method: str, _nann, key: str) -> np.ndarray:
    """The map stored with the model at training time (made here only for a model trained before maps were)."""
    return prepare_maps(_nann, method, artifact_path(name, method, 0))


@st.cache_resource(show_spinner=False, max_entries=256)
def search_view(name: str, variant: str, created: str, row: int, k: int, ef0: int, steps0: int, compare: bool,
                language: str, _nann, _xy):
    split = _nann.split
    history, user = split.test.inputs[row], split.test.users[row:row + 1]
    result = _nann.retrieve([history], k, trace=True, users=user, ef0=ef0, steps0=steps0)
    brute = _nann.brute_force([history], k, users=user)
    genre_text = split.catalogue.genre_labels(", ")
    fig = search_animation(_xy, result.traces[0], split.catalogue.titles, genre_text, split.test.truths[row],
                           split.n_items, language, brute=brute.items[0] if compare else None)
    return result, brute, fig


with guard():
    split = require_data()
    cat = split.catalogue
    st.title(t("nann_title"))
    variant = localized_choice(st.radio, t("nann_model"), ["nann", "nann_plain"],
                               lambda m, language: translate("nann_model_adv" if m == "nann" else "nann_model_plain",
                                                             language), "nann_variant", horizontal=True)
    nann = require_model(variant)
    st.markdown(t("nann_intro", M=nann.cfg.hnsw_M))
    if getattr(nann.cfg, "two_sided", False):
        st.caption(t("nann_two_sided_note"))
    with st.expander(t("nann_why_header"), expanded=False):
        st.markdown(t("nann_why"))

    row = user_picker(split)
    history, truth, user = split.test.inputs[row], split.test.truths[row], split.test.users[row]
    c1, c2, c3, c4 = st.columns(4)
    k = c1.slider(t("top_k"), 1, 100, 50, key="nann_k")
    ef0 = c2.select_slider(t("nann_ef0"), options=[10, 20, 50, 75, 100, 150, 200, 300, 500],
                           value=max(nann.cfg.ef[-1], 50), key="nann_ef0")
    steps0 = c3.slider(t("nann_steps0"), 1, 10, nann.cfg.steps[-1], key="nann_steps0")
    compare = c4.toggle(t("nann_compare"), value=True, key="nann_compare")

    created = str(nann.log.get("wall_seconds"))
    with st.spinner(t("nann_map_computing")):
        xy = projection(dataset(), variant, nann, created)
    result, brute, fig = search_view(dataset(), variant, created, row, k, ef0, steps0, compare, lang(), nann, xy)
    trace = result.traces[0]
    genre_text = cat.genre_labels(", ")
    st.plotly_chart(fig, width="stretch", key="nann_anim")
    returned, best = result.items[0], brute.items[0]
    overlap = len(set(returned[returned >= 0].tolist()) & set(best[best >= 0].tolist()))
    n = int(result.n_scored[0])
    st.caption(t("nann_counter", n=n, total=split.n_items, frac=n / split.n_items, k=k, overlap=overlap))
    html_download(fig, f"nann-search-user{int(split.raw_users[user])}", "nann_download")

    left, right = st.columns(2)
    with left:
        ranked_result(cat, returned, result.scores[0], truth, k)
    with right:
        if compare:
            missed, why = graph_misses(nann.graph, trace, best)
            where = [t("nann_where_scored") if why[m] == "scored" else t("nann_where_unreached", hops=why[m] or "> 8")
                     for m in missed.tolist()]
            st.markdown(f"**{t('nann_missed_header')}** · {len(missed)}")
            st.dataframe(pd.DataFrame({t("col_title"): [cat.titles[m] for m in missed],
                                       t("col_genres"): [genre_text[m] for m in missed],
                                       t("nann_col_where"): where}), hide_index=True, width="stretch", height=320)
        else:
            st.markdown(f"**{t('steps_table_header')}**")
            st.dataframe(pd.DataFrame({
                t("col_step"): [s.stage for s in trace.steps],
                t("col_scored"): [len(s.scored) for s in trace.steps],
                t("col_kept"): [len(s.kept) for s in trace.steps],
                t("col_total"): [x + 1 for x in trace.scored_so_far()],
            }), hide_index=True, width="stretch")

    st.subheader(t("nann_layers_header"))
    top = int(nann.graph.max_level)
    level = localized_choice(st.radio, t("nann_layer"), list(range(top, -1, -1)),
                             lambda lvl, language: translate("nann_hover_layer", language, level=lvl), "nann_layer",
                             horizontal=True)
    st.caption(t("nann_layers_help", n=split.n_items, top=top))
    st.plotly_chart(graph_layer_map(xy, nann.graph, level, cat.main_genre(), cat.genre_names, cat.titles, lang()),
                    width="stretch", key="nann_layers")

    budget_section("NANN" if variant == "nann" else "NANN (plain)", nann.log.get("budget_curve"), "ef0",
                   nann.log.get("bruteforce_recall@50", 0), "nann_budget")
