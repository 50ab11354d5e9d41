"""Recall Lab: streamlit run app.py

The server (``st.App``) runs recall_lab.py for every session. When it starts, before any visitor, a background
thread imports the heavy libraries and loads the default dataset's ready models into the shared cache
(``ui.startup``), so that the first visitor of a fresh server does not wait for them (issue 13 §2).
"""
import streamlit as st

from ui.startup import lifespan

app = st.App("recall_lab.py", lifespan=lifespan)
