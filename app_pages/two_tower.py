"""Two-tower baseline: embedding map, exact top-K vs hnswlib ANN, the late-interaction limit."""
import numpy as np
import streamlit as st

from recall_core.artifacts import artifact_path
from recall_core.methods import prepare_maps
from recall_core.projection import place_among
from recall_core.viz.tables import ranking_frame
from recall_core.viz.two_tower import embedding_map
from ui.state import alert, dataset, guard, lang, require_data, require_model, t
from ui.widgets import hits_summary, user_picker


@st.cache_resource(show_spinner=False, max_entries=8)
def projection(name: str, _retriever, key: str) -> np.ndarray:
    """The map stored with the model at training time (made here only for a model trained before maps were)."""
    return prepare_maps(_retriever, "two_tower", artifact_path(name, "two_tower", 0))


with guard():
    st.title(t("tt_title"))
    st.markdown(t("tt_intro"))
    split = require_data()
    retriever = require_model("two_tower")
    row = user_picker(split)
    history, truth, user = split.test.inputs[row], split.test.truths[row], split.test.users[row]

    c1, c2 = st.columns(2)
    k = c1.slider(t("top_k"), 1, min(100, split.n_items), 20, key="tt_k")
    ef = c2.slider(t("tt_ef"), k, min(400, split.n_items), max(k, retriever.cfg.hnsw_ef), key="tt_ef")
    exact = retriever.brute_force([history], k, users=np.array([user]))
    ann = retriever.retrieve([history], k, users=np.array([user]), ef=ef)

    st.subheader(t("tt_map_header"))
    with st.spinner(t("tt_map_computing")):
        coords = projection(dataset(), retriever, str(retriever.log.get("wall_seconds")))
    n = split.n_items
    user_vec = retriever.user_vectors([history], np.array([user]))[0]
    user_xy = place_among(coords, retriever.item_vecs @ user_vec)
    fig = embedding_map(coords, split.catalogue.main_genre(), split.catalogue.genre_names, split.catalogue.titles,
                        user_xy, exact.items[0], truth, history, lang())
    st.plotly_chart(fig, width="stretch")
    st.caption(t("tt_map_help", dim=retriever.item_vecs.shape[1]))

    left, right = st.columns(2)
    for col, result, title in ((left, exact, t("tt_exact")), (right, ann, t("tt_ann", ef=ef))):
        items = result.items[0]
        col.markdown(f"**{title}**")
        col.caption(hits_summary(items, truth, k) + " · "
                    + t("scored_summary", n=int(result.n_scored[0]), total=n, frac=result.n_scored[0] / n))
        col.dataframe(ranking_frame(split.catalogue, items, result.scores[0], truth, lang()), hide_index=True,
                      width="stretch", height=420)
    overlap = len(set(exact.items[0].tolist()) & set(ann.items[0].tolist()) - {-1})
    alert("info", t("tt_agreement", overlap=overlap, k=k))

    st.subheader(t("tt_limit_header"))
    st.markdown(t("tt_limit"))
