"""TDM: the tree, the beam search animated level by level, samples, tree-learning rounds."""
import numpy as np
import pandas as pd
import streamlit as st

from recall_core.i18n import translate
from recall_core.tdm import beam_sizes, training_example
from recall_core.viz.tdm import (beam_search_animation, level_story, marker_count, node_labels, sample_path_figure,
                                 zoom_choices)
from ui.state import alert, dataset, guard, lang, require_data, require_model, t
from ui.widgets import budget_section, html_download, localized_choice, ranked_result, user_picker


@st.cache_resource(show_spinner=False, max_entries=16)
def labels_for(name: str, round_index: int, _tdm) -> list[str]:
    cat = _tdm.split.catalogue
    return node_labels(_tdm.tree, cat.genres, cat.genre_names, cat.titles)


@st.cache_resource(show_spinner=False, max_entries=256)
def search_result(name: str, created: str, round_index: int, row: int, beam: int, k: int, _tdm):
    """The traced search, shared by every session asking for the same view."""
    model = _tdm.at_round(round_index)
    return model.retrieve([model.split.test.inputs[row]], k, trace=True, beam=beam)


@st.cache_resource(show_spinner=False, max_entries=256)
def search_figure(name: str, created: str, round_index: int, row: int, beam: int, k: int, root: int, language: str,
                  _tdm):
    """The animation of that search (the whole tree, or zoomed into the subtree of ``root``) and the
    number of markers it draws."""
    model = _tdm.at_round(round_index)
    result = search_result(name, created, round_index, row, beam, k, _tdm)
    fig = beam_search_animation(model.tree, result.traces[0], labels_for(name, round_index, model),
                                model.split.test.truths[row], language, root=root)
    return fig, marker_count(fig)


with guard():
    split = require_data()
    tdm = require_model("tdm")
    st.title(t("tdm_title"))
    st.markdown(t("tdm_intro", b=tdm.tree.branching, depth=tdm.tree.depth))
    row = user_picker(split)
    history, truth = split.test.inputs[row], split.test.truths[row]

    c1, c2, c3 = st.columns(3)
    def learner(r: int) -> str:
        return tdm.rounds[r].report.get("tree_learning", "kmeans")

    def round_name(r: int, language: str) -> str:
        if r == 0:
            name = translate("tdm_round_genre", language)
        else:
            name = translate("tdm_round_learned_jtm" if learner(r) == "jtm" else "tdm_round_learned", language, r=r)
        return translate("tdm_round_served", language, name=name) if r == tdm.round_index else name

    round_names = [round_name(r, lang()) for r in range(len(tdm.rounds))]
    with c1:
        round_index = localized_choice(st.selectbox, t("tdm_round"), list(range(len(tdm.rounds))), round_name,
                                       "tdm_round", index=tdm.round_index)
    model = tdm.at_round(round_index)
    beams = sorted(set(beam_sizes(model.tree)) | {model.cfg.beam})
    beam = c2.select_slider(t("tdm_beam"), options=beams, value=model.cfg.beam, key="tdm_beam")
    k = c3.slider(t("top_k"), 1, 100, 50, key="tdm_k")

    created = str(tdm.log.get("wall_seconds"))
    result = search_result(dataset(), created, round_index, row, beam, k, tdm)
    trace = result.traces[0]
    labels = labels_for(dataset(), round_index, model)
    tree = model.tree

    def zoom_name(code: int, language: str) -> str:
        if code == 0:
            return translate("tdm_zoom_whole", language)
        return translate("tdm_zoom_option", language, level=int(tree.level_of(code)), code=code,
                         label=labels[code] or "—", n=int(tree.count[code]))

    root = localized_choice(st.selectbox, t("tdm_zoom"), [0] + zoom_choices(tree, trace), zoom_name, "tdm_zoom")
    fig, markers = search_figure(dataset(), created, round_index, row, beam, k, root, lang(), tdm)
    st.plotly_chart(fig, width="stretch", key="tdm_anim")
    n = int(result.n_scored[0])
    st.caption(t("tdm_counter", n=n, brute=split.n_items, frac=n / split.n_items) + " · "
               + t("tdm_frontier_help", markers=markers, nodes=int(tree.valid.sum())))
    html_download(fig, f"tdm-beam-user{int(split.raw_users[split.test.users[row]])}", "tdm_download")

    left, right = st.columns([2, 3])
    with left:
        st.markdown(f"**{t('steps_table_header')}**" + ("" if root == 0 else f" · {zoom_name(root, lang())}"))
        story = level_story(tree, trace, root)
        st.dataframe(pd.DataFrame({
            t("col_step"): [r["stage"] for r in story],
            t("col_scored"): [r["scored"] for r in story],
            t("col_kept"): [r["kept"] for r in story],
            t("col_pruned_subtrees"): [0 if r["leaves"] else r["pruned"] for r in story],
            t("col_pruned_movies"): [0 if r["leaves"] else r["pruned_movies"] for r in story],
            t("col_total"): [r["total"] for r in story],
        }), hide_index=True, width="stretch")
    with right:
        ranked_result(split.catalogue, result.items[0], result.scores[0], truth, k)

    st.subheader(t("tdm_samples_header"))
    target = int(history[-1])
    codes, sample_labels, levels = training_example(model, target)
    st.caption(t("tdm_samples_help", title=split.catalogue.titles[target]))
    st.plotly_chart(sample_path_figure(model.tree, codes, sample_labels, levels, labels, lang()), width="stretch",
                    key="tdm_samples")
    positives = codes[sample_labels == 1]
    st.dataframe(pd.DataFrame({
        t("col_level"): sorted(set(levels.tolist())),
        t("col_positive"): [labels[c] for c in positives],
        t("col_negatives"): [int(((levels == l) & (sample_labels == 0)).sum()) for l in sorted(set(levels.tolist()))],
    }), hide_index=True, width="stretch")

    st.subheader(t("tdm_rounds_header"))
    jtm = any(learner(r) == "jtm" for r in range(1, len(tdm.rounds)))
    st.caption(t("tdm_rounds_help_jtm" if jtm else "tdm_rounds_help"))
    reports = [r.report for r in tdm.rounds]
    st.dataframe(pd.DataFrame({
        t("col_round"): round_names,
        t("tdm_col_tree_learning"): ["—" if r == 0 else t(f"tdm_tree_{learner(r)}", d=tdm.cfg.jtm_gap)
                                     for r in range(len(tdm.rounds))],
        t("col_beam_recall"): [round(r.get("valid_recall@50", np.nan), 4) for r in reports],
        t("col_brute_recall"): [round(r.get("valid_bruteforce_recall@50", np.nan), 4) for r in reports],
        t("col_after_recluster"): [round(r.get("right_after_reclustering", {}).get("valid_recall@50", np.nan), 4)
                                   for r in reports],
    }), hide_index=True, width="stretch")
    if tdm.round_index != len(tdm.rounds) - 1:  # validation preferred an earlier tree: say so, it is the finding
        served = t("tdm_served_genre") if tdm.round_index == 0 else t("tdm_served_earlier", r=tdm.round_index)
        alert("info", served)

    budget_section("TDM", tdm.log.get("budget_curve"), "beam",
                   tdm.rounds[tdm.round_index].report.get("valid_bruteforce_recall@50", 0), "tdm_budget")
