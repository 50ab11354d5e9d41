"""Deep Retrieval: the lattice, collapse vs the 4-norm penalty, one movie's paths, a user's beam search."""
import numpy as np
import pandas as pd
import streamlit as st

from recall_core.dr import (DR_BEAMS, PAGE_ALPHAS, multi_cluster_items, path_codes, path_genre_mix, path_size_stats,
                            rerun_path_step)
from recall_core.viz.dr import beam_animation, lattice_sankey, path_size_histogram
from ui.state import dataset, guard, lang, require_data, require_model, t
from ui.widgets import budget_section, html_download, ranked_result, user_picker


@st.cache_resource(show_spinner=False, max_entries=32)
def paths_for_alpha(name: str, created: str, alpha: float, _dr) -> np.ndarray:
    return rerun_path_step(_dr, alpha)


@st.cache_resource(show_spinner=False, max_entries=256)
def search_view(name: str, created: str, row: int, beam: int, k: int, language: str, _dr):
    split = _dr.split
    result = _dr.retrieve([split.test.inputs[row]], k, trace=True, beam=beam, users=split.test.users[row:row + 1])
    fig = beam_animation(result.traces[0], _dr.cfg.width, _dr.cfg.depth, split.catalogue.titles,
                         split.test.truths[row], language)
    return result, fig


@st.cache_resource(show_spinner=False, max_entries=64)
def sankey(name: str, created: str, movie: int, language: str, _dr):
    return lattice_sankey(_dr.pi, _dr.cfg.width, _dr.cfg.depth, _dr.split.catalogue.titles, language,
                          highlight=_dr.pi[movie])


with guard():
    split = require_data()
    dr = require_model("dr")
    cfg, cat = dr.cfg, split.catalogue
    created = str(dr.log.get("wall_seconds"))
    st.title(t("dr_title"))
    st.markdown(t("dr_intro", D=cfg.depth, K=cfg.width, n_paths=dr.n_paths, J=cfg.paths_per_item))

    # -------------------------------------------------------------- one movie's J paths, on the lattice
    st.subheader(t("dr_sankey_header"))
    st.caption(t("dr_sankey_help", K=cfg.width))
    examples = multi_cluster_items(dr, cat.genres, 40)
    rest = np.setdiff1d(np.arange(split.n_items), examples)
    genre_text = cat.genre_labels(", ")
    movie = st.selectbox(t("dr_pick_movie"), np.concatenate([examples, rest]).tolist(),
                         format_func=lambda i: f"{cat.titles[i]} · {genre_text[i]}", key="dr_movie")
    st.plotly_chart(sankey(dataset(), created, movie, lang(), dr), width="stretch", key="dr_sankey")

    st.subheader(t("dr_movie_header"))
    st.caption(t("dr_movie_help"))
    mix = path_genre_mix(dr, cat.genres)
    columns = st.columns(cfg.paths_per_item)
    for j, (col, path) in enumerate(zip(columns, dr.pi[movie])):
        members = dr.items_on(int(path))
        top = np.argsort(-mix[path])[:2]
        col.markdown(t("dr_path_label", j=j + 1, code=", ".join(map(str, path_codes(np.array([path]), cfg.width,
                                                                                        cfg.depth)[0])),
                       n=len(members), genres=" / ".join(cat.genre_names[g] for g in top if mix[path, g] > 0)))
        col.dataframe(pd.DataFrame({t("col_title"): [cat.titles[i] for i in members],
                                    t("col_genres"): [cat.genre_label(i, ", ") for i in members]}),
                      hide_index=True, width="stretch", height=220)

    # -------------------------------------------------------------- collapse vs the penalty
    st.subheader(t("dr_alpha_header"))
    st.caption(t("dr_alpha_help", sweeps=cfg.sweeps, alpha=cfg.alpha))
    alpha = st.select_slider(t("dr_alpha"), options=list(PAGE_ALPHAS), value=0.0, key="dr_alpha",
                             format_func=lambda a: f"{a:g}")
    settings = {t("dr_trained_alpha", alpha=f"{cfg.alpha:g}"): dr.pi,
                t("dr_chosen_alpha", alpha=f"{alpha:g}"): paths_for_alpha(dataset(), created, alpha, dr)}
    sizes = {name: np.bincount(pi.ravel(), minlength=dr.n_paths) for name, pi in settings.items()}
    st.plotly_chart(path_size_histogram(sizes, lang()), width="stretch", key="dr_hist")
    stats = [path_size_stats(pi, dr.n_paths) for pi in settings.values()]
    st.dataframe(pd.DataFrame({
        t("dr_stats_setting"): list(settings),
        t("dr_stats_nonempty"): [s["non_empty_paths"] for s in stats],
        t("dr_stats_largest"): [s["largest_path"] for s in stats],
        t("dr_stats_gini"): [round(s["gini"], 3) for s in stats],
        t("dr_stats_entropy"): [round(s["entropy_bits"], 2) for s in stats],
    }), hide_index=True, width="stretch")

    # -------------------------------------------------------------- a user's beam search
    st.subheader(t("dr_beam_header"))
    row = user_picker(split)
    history, truth = split.test.inputs[row], split.test.truths[row]
    c1, c2 = st.columns(2)
    beam = c1.select_slider(t("dr_beam"), options=sorted(set(DR_BEAMS) | {cfg.beam}), value=cfg.beam, key="dr_beam")
    k = c2.slider(t("top_k"), 1, 100, 50, key="dr_k")
    result, fig = search_view(dataset(), created, row, beam, k, lang(), dr)
    trace = result.traces[0]
    st.plotly_chart(fig, width="stretch", key="dr_anim")
    html_download(fig, f"dr-beam-user{int(split.raw_users[split.test.users[row]])}", "dr_download")
    left, right = st.columns([2, 3])
    with left:
        st.markdown(f"**{t('steps_table_header')}**")
        st.dataframe(pd.DataFrame({
            t("col_step"): [s.stage for s in trace.steps],
            t("col_scored"): [len(s.scored) for s in trace.steps],
            t("col_kept"): [len(s.kept) for s in trace.steps],
            t("col_total"): trace.scored_so_far(),
        }), hide_index=True, width="stretch")
        st.caption(t("scored_summary", n=trace.n_scored, total=split.n_items, frac=trace.n_scored / split.n_items))
    with right:
        ranked_result(cat, result.items[0], result.scores[0], truth, k)

    budget_section("DR", dr.log.get("budget_curve"), "beam", dr.log.get("bruteforce_recall@50", 0), "dr_budget")
