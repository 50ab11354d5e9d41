"""Session settings, cached data and models, and the error guard for pages."""
from __future__ import annotations

import logging
import traceback
from contextlib import contextmanager

import streamlit as st

from recall_core.artifacts import ArtifactError
from recall_core.data import Split, load_split
from recall_core.i18n import DEFAULT_LANGUAGE, translate
from recall_core.methods import load_or_train
from recall_core.movielens import DataError, is_ready
from recall_core.protocol import Retriever
from recall_core.training import DeviceError
from recall_core.worlds import is_constructed

log = logging.getLogger("recall_lab")


def lang() -> str:
    return st.session_state.get("lang", DEFAULT_LANGUAGE)


def t(key: str, **fields) -> str:
    return translate(key, lang(), **fields)


def dataset() -> str:
    return st.session_state.get("dataset", "ml-100k")


def device() -> str:
    return st.session_state.get("device", "auto")


@st.cache_resource(show_spinner=False)
def get_split(name: str) -> Split:
    """Parsed and split once per server; raises DataError while the data is absent.
    Constructed datasets (``recall_core.worlds``) are generated, never downloaded."""
    if not is_constructed(name) and not is_ready(name):
        raise DataError(translate("data_missing", DEFAULT_LANGUAGE, name=name))
    return load_split(name)


@st.cache_resource(show_spinner=False, max_entries=32)
def get_retriever(name: str, method: str, seed: int = 0, device_name: str = "auto") -> Retriever:
    """Loaded once per server and shared by every session; never trains (see ``train``)."""
    return load_or_train(get_split(name), method, seed, device_name, train_if_missing=False)


def train(name: str, method: str, seed: int = 0) -> Retriever:
    """Train with a progress bar; the artifact lock makes concurrent sessions train once."""
    bar = st.progress(0.0, text=t("training", method=method))

    def progress(fraction: float, message: str) -> None:
        bar.progress(min(max(fraction, 0.0), 1.0), text=f"{t('training', method=method)} {message}")

    retriever = load_or_train(get_split(name), method, seed, device(), progress=progress, retrain=False)
    bar.empty()
    get_retriever.clear()
    return retriever


def require_data() -> Split:
    try:
        return get_split(dataset())
    except DataError:
        st.info(t("data_needed"))
        st.stop()


def require_model(method: str, seed: int = 0) -> Retriever:
    """The cached model, or a button that trains it here with progress."""
    require_data()
    try:
        return get_retriever(dataset(), method, seed, device())
    except ArtifactError:
        st.warning(t("model_needed", method=method))
        if st.button(t("train_one", method=method), key=f"train-{method}", type="primary"):
            with st.spinner(t("training", method=method)):
                train(dataset(), method, seed)
            st.rerun()
        st.stop()


@contextmanager
def guard():
    """Show a friendly message instead of a traceback; the details go to the server log."""
    try:
        yield
    except (DataError, ArtifactError, DeviceError, ValueError) as exc:
        log.warning("page error: %s", exc)
        st.error(str(exc))
    except Exception as exc:  # noqa: BLE001 — the page must never show a stack trace
        log.error("page failure\n%s", traceback.format_exc())
        st.error(t("error_generic", error=f"{type(exc).__name__}: {exc}"))
