"""Semantic IDs (TIGER): the codebooks as a map, codebook usage beside DR's paths, a user's constrained beam."""
import numpy as np
import pandas as pd
import streamlit as st

from recall_core.artifacts import ArtifactError, artifact_path
from recall_core.dr import path_size_stats
from recall_core.methods import prepare_maps
from recall_core.viz.sid import (beam_lattice, code_usage_figure, codebook_frame, codebook_map, path_stats_frame,
                                 tuple_stats)
from recall_core.sid import SID_BEAMS
from ui.state import dataset, device, get_retriever, guard, lang, require_data, require_model, t
from ui.widgets import budget_section, html_download, ranked_result, user_picker

SMALL_BEAMS = [1, 2, 5, 10, 20]  # narrow beams: the pruning is easy to follow


@st.cache_resource(show_spinner=False, max_entries=8)
def projection(name: str, created: str, _sid) -> np.ndarray:
    """The map stored with the model at training time (made here only for a model trained before maps were)."""
    return prepare_maps(_sid, "sid", artifact_path(name, "sid", 0))


@st.cache_resource(show_spinner=False, max_entries=16)
def map_figure(name: str, created: str, language: str, _sid, _xy):
    return codebook_map(_xy, _sid.ids, _sid.split.catalogue.titles, language)


@st.cache_resource(show_spinner=False, max_entries=256)
def search_view(name: str, created: str, row: int, beam: int, k: int, language: str, _sid):
    """The traced search and its lattice; the time is that of the same search without the trace."""
    split = _sid.split
    history, user = [split.test.inputs[row]], split.test.users[row:row + 1]
    result = _sid.retrieve(history, k, trace=True, beam=beam, users=user)
    seconds = _sid.retrieve(history, k, beam=beam, users=user).extras["search_seconds"]
    fig = beam_lattice(result.traces[0], _sid.trie, split.catalogue.titles, split.test.truths[row], language)
    return result, seconds, fig


def dr_paths():
    """DR's trained paths for the comparison row, when that model is ready (never trains it here)."""
    try:
        return get_retriever(dataset(), "dr", 0, device())
    except ArtifactError:
        return None


with guard():
    split = require_data()
    sid = require_model("sid")
    cfg, cat, q = sid.cfg, split.catalogue, sid.log.get("quantiser_stats", {})
    created = str(sid.log.get("wall_seconds"))
    quantiser = t(f"sid_quantiser_{cfg.quantiser}")
    st.title(t("sid_title"))
    st.markdown(t("sid_intro", L=cfg.levels, K=cfg.codebook_size, quantiser=quantiser))
    st.markdown(t("sid_vs_dr_table"))

    # -------------------------------------------------------------- the codebooks as a map
    st.subheader(t("sid_map_header"))
    st.caption(t("sid_map_help", space=t(f"sid_space_{cfg.quantiser}"), K=cfg.codebook_size))
    with st.spinner(t("sid_map_computing")):
        xy = projection(dataset(), created, sid)
    st.plotly_chart(map_figure(dataset(), created, lang(), sid, xy), width="stretch", key="sid_map")

    # -------------------------------------------------------------- codebook usage, beside DR's paths
    st.subheader(t("sid_usage_header"))
    st.caption(t("sid_usage_help"))
    st.plotly_chart(code_usage_figure(sid.ids, cfg.codebook_size, cfg.levels, lang()), width="stretch",
                    key="sid_usage")
    if q:
        st.dataframe(codebook_frame(q, lang()), hide_index=True, width="stretch")
        c = q["collisions"]
        st.caption(t("sid_collisions", n=split.n_items, unique=c["unique_tuples"], colliding=c["colliding_items"],
                     tuples=c["colliding_tuples"], largest=c["largest_group"], codes=q["disambiguation_codes"]))
    st.markdown(f"**{t('sid_vs_dr_header')}**")
    st.caption(t("sid_vs_dr_help"))
    rows = {t("sid_row_sid", quantiser=cfg.quantiser): (tuple_stats(sid.ids, cfg.codebook_size, cfg.levels),
                                                        cfg.codebook_size ** cfg.levels)}
    dr = dr_paths()
    if dr is not None:
        rows[t("sid_row_dr", alpha=f"{dr.cfg.alpha:g}", J=dr.cfg.paths_per_item)] = (
            path_size_stats(dr.pi, dr.n_paths), dr.n_paths)
    st.dataframe(path_stats_frame(rows, lang()), hide_index=True, width="stretch")

    # -------------------------------------------------------------- a user's constrained beam search
    st.subheader(t("sid_beam_header"))
    st.caption(t("sid_beam_help", beam=cfg.beam))
    row = user_picker(split)
    truth = split.test.truths[row]
    c1, c2 = st.columns(2)
    beam = c1.select_slider(t("sid_beam"), options=sorted(set(SMALL_BEAMS + SID_BEAMS) | {cfg.beam}), value=cfg.beam,
                            key="sid_beam")
    k = c2.slider(t("top_k"), 1, 100, 50, key="sid_k")
    result, seconds, fig = search_view(dataset(), created, row, beam, k, lang(), sid)
    trace = result.traces[0]
    st.plotly_chart(fig, width="stretch", key="sid_anim")
    st.caption(t("sid_cost", steps=len(trace.steps), n=trace.n_scored, total=split.n_items, ms=seconds * 1000))
    html_download(fig, f"sid-beam-user{int(split.raw_users[split.test.users[row]])}", "sid_download")
    left, right = st.columns([2, 3])
    with left:
        st.markdown(f"**{t('steps_table_header')}**")
        st.dataframe(pd.DataFrame({
            t("col_step"): [s.stage for s in trace.steps],
            t("sid_col_beam_in"): [s.info["beam_in"] for s in trace.steps],
            t("sid_col_outputs"): [s.info["outputs"] for s in trace.steps],
            t("sid_col_cut"): [s.info["not_in_trie"] for s in trace.steps],
            t("sid_col_history"): [s.info["history_pruned"] for s in trace.steps],
            t("col_scored"): [len(s.scored) for s in trace.steps],
            t("col_kept"): [len(s.kept) for s in trace.steps],
            t("col_total"): trace.scored_so_far(),
        }), hide_index=True, width="stretch")
    with right:
        ranked_result(cat, result.items[0], result.scores[0], truth, k)

    budget_section("SID", sid.log.get("budget_curve"), "beam", sid.log.get("bruteforce_recall@50", 0), "sid_budget")
