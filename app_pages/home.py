"""Home: why retrieval must go beyond two towers, and what each page shows."""
import pandas as pd
import streamlit as st

from recall_core.claims import real_data_findings, world_findings
from recall_core.compare import find_report, shown_path
from recall_core.viz.home import architecture_dot, world_figure
from ui.state import alert, guard, lang, t
from ui.results import available_reports

with guard():
    st.title(t("app_title"))
    st.markdown(t("home_intro"))
    st.graphviz_chart(architecture_dot(lang()), width="content")
    st.caption(t("home_picture_caption"))

    found = find_report("ml-100k")
    st.subheader(t("home_evidence_header"))
    if found:
        path, report = found
        st.caption(t("home_evidence_source", path=shown_path(path)))
        st.markdown(t("home_real_header"))
        st.markdown("\n".join(f"- {line}" for line in real_data_findings(report, lang())))
        if report.get("world_sweep"):
            st.markdown(t("home_world_header"))
            st.markdown(t("home_world_intro"))
            st.plotly_chart(world_figure(report["world_sweep"], lang()), width="stretch", key="home_world")
            st.markdown("\n".join(f"- {line}" for line in world_findings(report["world_sweep"], lang())))
    else:
        alert("info", t("home_evidence_missing"))

    st.subheader(t("home_pages_header"))
    for page in ("two_tower", "tdm", "dr", "nann", "sid", "compare"):
        st.markdown(f"- **{t('nav_' + page)}** — {t('home_page_' + page)}")

    reports, split = available_reports()
    if split is not None:
        st.subheader(t("home_protocol_header"))
        cfg = split.config
        st.markdown(t("home_protocol", min_rating=cfg.min_rating, min_pos=cfg.min_positives,
                      train=len(split.full_train_users), valid=len(split.valid), test=len(split.test)))
        st.subheader(t("home_results_header"))
        if reports:
            st.dataframe(pd.DataFrame(reports), hide_index=True, width="stretch")
            st.caption(t("home_results_caption"))
        else:
            alert("info", t("home_no_results"))
