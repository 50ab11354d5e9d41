"""Recall Lab's script: what every session runs (navigation, sidebar, the pages). ``streamlit run app.py``
serves it (app.py: the server and its start-up)."""
from __future__ import annotations

from ui.runlog import timed_run  # stdlib only: the run's timer starts before the app's own imports

with timed_run() as run:  # server-side time of every script run (RECALL_LAB_RUN_LOG; see ui/runlog.py)
    import streamlit as st

    from ui.sidebar import render_sidebar
    from ui.state import t

    st.set_page_config(page_title="Recall Lab", page_icon=":material/travel_explore:", layout="wide")
    if "lang" not in st.session_state:
        st.session_state["lang"] = "zh"

    render_sidebar()
    pages = [
        st.Page("app_pages/home.py", title=t("nav_home"), icon=":material/home:", url_path="home", default=True),
        st.Page("app_pages/two_tower.py", title=t("nav_two_tower"), icon=":material/join_inner:",
                url_path="two_tower"),
        st.Page("app_pages/tdm.py", title=t("nav_tdm"), icon=":material/account_tree:", url_path="tdm"),
        st.Page("app_pages/dr.py", title=t("nav_dr"), icon=":material/route:", url_path="dr"),
        st.Page("app_pages/nann.py", title=t("nav_nann"), icon=":material/hub:", url_path="nann"),
        st.Page("app_pages/sid.py", title=t("nav_sid"), icon=":material/token:", url_path="sid"),
        st.Page("app_pages/compare.py", title=t("nav_compare"), icon=":material/compare_arrows:",
                url_path="compare"),
    ]
    run.page = st.navigation(pages)
    run.page.run()
