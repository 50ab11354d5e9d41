"""Session settings, cached data and models, and the error guard for pages."""
from __future__ import annotations

import logging
import os
import threading
import traceback
from contextlib import contextmanager

import streamlit as st

from recall_core.artifacts import ArtifactError
from recall_core.background import BackgroundTrainer
from recall_core.train_process import default_workers, threads_per_worker, train_in_subprocess
from recall_core.data import Split, load_split
from recall_core.i18n import DEFAULT_LANGUAGE, translate
from recall_core.methods import load_or_train
from recall_core.movielens import DataError, is_ready
from recall_core.protocol import Retriever
from recall_core.training import DeviceError
from recall_core.worlds import is_constructed

log = logging.getLogger("recall_lab")


# Every alert names its icon: without one, Streamlit looks for a leading emoji in the text, and its first look in a
# process imports its emoji table and compiles a large regular expression (0.48 s of a page's first visit; issue 13).
# The background-failure message keeps st.error: its text begins with its own emoji.
ALERT_ICONS = {"info": ":material/info:", "warning": ":material/warning:", "error": ":material/error:"}


def alert(kind: str, body: str) -> None:
    """``st.info``, ``st.warning`` or ``st.error`` (``kind``) with its icon named (:data:`ALERT_ICONS`)."""
    getattr(st, kind)(body, icon=ALERT_ICONS[kind])


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


WARM_UP_ENV = "RECALL_LAB_WARM_UP"


def warm_up_enabled() -> bool:
    """Ready models are loaded in the background as soon as the sidebar sees them (off with RECALL_LAB_WARM_UP=0)."""
    return os.environ.get(WARM_UP_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


@st.cache_resource(show_spinner=False, max_entries=16)
def warm_up(name: str, methods: tuple[str, ...], device_name: str = "auto") -> threading.Thread:
    """Load ``methods``' models into the server's shared cache (:func:`get_retriever`) in a background thread,
    once per dataset and set of ready models: while the first visitor reads the Home page, the method pages'
    models are loaded, so their first visit does not wait for a model to load (issue 13 §2). A model that
    fails to load is left for its page to report."""

    def load_all() -> None:
        for method in methods:
            try:
                get_retriever(name, method, 0, device_name)
            except Exception as exc:  # noqa: BLE001 — the page says what is wrong when it is visited
                log.warning("warm-up: %s on %s not loaded: %s", method, name, exc)

    thread = threading.Thread(target=load_all, name=f"recall-lab-warm-up:{name}", daemon=True)
    thread.start()
    return thread


def require_data() -> Split:
    try:
        return get_split(dataset())
    except DataError:
        alert("info", t("data_needed"))
        st.stop()


AUTOTRAIN_ENV = "RECALL_LAB_AUTOTRAIN"


def autotrain() -> bool:
    """Missing models start training in the background on the first visit (off with RECALL_LAB_AUTOTRAIN=0)."""
    return os.environ.get(AUTOTRAIN_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


@st.cache_resource(show_spinner=False)
def trainer() -> BackgroundTrainer:
    """One background trainer per server: every session sees the same queue and progress."""

    workers = default_workers()
    threads = threads_per_worker(workers)

    def train_one(name: str, method: str, progress) -> None:
        get_split(name)  # a clear DataError while the data is absent
        train_in_subprocess(name, method, progress, threads=threads)

    return BackgroundTrainer(train_one, workers)


def require_model(method: str, seed: int = 0) -> Retriever:
    """The cached model; otherwise the page says the model is not ready, shows the background training's
    progress (queuing the model if nobody has), refreshes itself when the model arrives, and stops."""
    require_data()
    try:
        return get_retriever(dataset(), method, seed, device())
    except ArtifactError:
        pass
    jobs = {j.method: j for j in trainer().status(dataset())}
    if method not in jobs or jobs[method].state == "failed":
        if jobs.get(method) is not None:
            st.error(t("bg_failed", method=method, error=jobs[method].error))
        if autotrain() and method not in jobs:
            trainer().request(dataset(), [method])
        else:  # nothing trains it yet: say so and offer the button, not a wait
            alert("warning", t("model_needed", method=method))
            if st.button(t("train_one", method=method), key=f"train-{method}", type="primary"):
                trainer().request(dataset(), [method])
                st.rerun()
            st.stop()
    _wait_for(method)
    st.stop()


def _wait_for(method: str) -> None:
    alert("info", t("model_not_ready", method=method))

    @st.fragment(run_every=2.0)
    def progress() -> None:
        job = next((j for j in trainer().status(dataset()) if j.method == method), None)
        if job is None:
            return
        if job.state == "done":
            st.rerun(scope="app")
        ahead = [j.method for j in trainer().status(dataset()) if j.state in ("running", "queued")]
        where = ahead.index(method) if method in ahead else 0
        text = t(f"bg_{job.state}", method=method, seconds=job.seconds, ahead=where, message=job.message)
        st.progress(job.fraction if job.state == "running" else 0.0, text=text)

    progress()


@contextmanager
def guard():
    """Show a friendly message instead of a traceback; the details go to the server log."""
    try:
        yield
    except (DataError, ArtifactError, DeviceError, ValueError) as exc:
        log.warning("page error: %s", exc)
        alert("error", str(exc))
    except Exception as exc:  # noqa: BLE001 — the page must never show a stack trace
        log.error("page failure\n%s", traceback.format_exc())
        alert("error", t("error_generic", error=f"{type(exc).__name__}: {exc}"))
