"""The sidebar: language, dataset (download / upload / local path), device, model status."""
from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st
import torch

from recall_core.background import teaching_order
from recall_core.i18n import LANGUAGES
from recall_core.methods import LEARNED, artifact_status, profile
from recall_core.movielens import RELEASES, DataError, ensure_dataset, is_ready
from recall_core.paths import data_root
from recall_core.worlds import CONSTRUCTED, interests_at, is_constructed, parse_name

from .state import alert, autotrain, dataset, device, get_split, t, trainer, warm_up, warm_up_enabled

MAX_UPLOAD_BYTES = 300 * (1 << 20)


def render_sidebar() -> None:
    with st.sidebar:
        st.radio("语言 / Language", list(LANGUAGES), format_func=LANGUAGES.get, key="lang", horizontal=True)
        options = list(RELEASES) + CONSTRUCTED
        _follow_dataset_link(options)
        st.selectbox(t("sidebar_dataset"), options, key="dataset", format_func=_dataset_label)
        devices = ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        st.selectbox(t("sidebar_device"), devices, key="device")
        st.subheader(t("status_header"))
        if _data_panel():
            _models_panel()


def _follow_dataset_link(options: list[str]) -> None:
    """A deep link ``?dataset=<name>`` (e.g. a teacher's link to ``synthetic-10k``) selects that dataset, once per
    new link, so the session can still switch; an unknown name gets a warning and changes nothing."""
    wanted = st.query_params.get("dataset")
    if wanted is None or st.session_state.get("dataset__linked") == wanted:
        return
    st.session_state["dataset__linked"] = wanted
    if wanted in options:
        st.session_state["dataset"] = wanted
    else:
        alert("warning", t("unknown_dataset", name=wanted[:40], options=", ".join(options)))


def _dataset_label(name: str) -> str:
    """Constructed datasets are labelled as such wherever they are offered."""
    return f"{name} · {t('world_constructed')}" if is_constructed(name) else name


def _constructed_panel(name: str) -> bool:
    """A constructed dataset is generated on demand: nothing to download."""
    try:
        split = get_split(name)
    except DataError as exc:
        alert("error", str(exc))
        return False
    st.caption(t("world_ready", name=name, items=split.n_items, users=split.n_users, test=len(split.test)))
    kind, knob, _ = parse_name(name)
    if kind == "world":
        st.caption(t("world_note_multi", knob=f"{knob:g}", m=interests_at(knob)))
    else:
        st.caption(t("world_note_catalogue", items=split.n_items))
    return True


def _data_panel() -> bool:
    name = dataset()
    if is_constructed(name):
        return _constructed_panel(name)
    if is_ready(name):
        try:
            split = get_split(name)
        except DataError as exc:
            alert("error", str(exc))
            return False
        st.caption(t("data_ready", name=name, items=split.n_items, users=split.n_users, test=len(split.test)))
        return True
    alert("warning", t("data_missing", name=name))
    if st.button(t("data_download", name=name), key="download"):
        bar = st.progress(0.0, text=t("data_downloading", name=name))

        def progress(done: int, total: int | None) -> None:
            bar.progress(min(done / total, 1.0) if total else 0.5, text=f"{t('data_downloading', name=name)} "
                                                                     f"{done / 1e6:.1f} MB")

        _fetch(name, progress=progress)
    st.caption(t("data_offline_help"))
    upload = st.file_uploader(t("data_upload"), type=["zip"], key="upload")
    if upload is not None:
        if upload.size > MAX_UPLOAD_BYTES:
            alert("error", f"{upload.name}: {upload.size / 1e6:.0f} MB > {MAX_UPLOAD_BYTES / 1e6:.0f} MB")
        else:
            uploads = data_root() / "uploads"
            uploads.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=uploads, suffix=".zip", delete=True) as tmp:
                tmp.write(upload.getbuffer())
                tmp.flush()
                _fetch(name, source=tmp.name)
    local = st.text_input(t("data_local_path"), key="local_path")
    if local and st.button(t("data_use_local"), key="use_local"):
        _fetch(name, source=Path(local).expanduser())
    return False


def _fetch(name: str, **kwargs) -> None:
    try:
        ensure_dataset(name, **kwargs)
    except DataError as exc:
        alert("error", str(exc))
        return
    get_split.clear()
    st.success(t("data_loaded_ok"))
    st.rerun()


def _models_panel() -> None:
    """Each learned model's status; missing ones train in the background in teaching order (one panel,
    the same on every page, refreshing itself while a model trains)."""
    split = get_split(dataset())
    st.markdown(f"**{t('models_header')}**" + (f" · {t('profile_quick')}" if profile() == "quick" else ""))
    missing = [m for m in LEARNED if artifact_status(split, m) != "ready"]
    if warm_up_enabled():
        warm_up(dataset(), tuple(m for m in teaching_order(LEARNED) if m not in missing), device())
    queued = {j.method for j in trainer().status(dataset()) if j.state != "failed"}
    if missing and autotrain() and not set(missing) <= queued:
        trainer().request(dataset(), missing)
    elif missing and not set(missing) <= queued and st.button(t("train_missing"), key="train-missing", type="primary"):
        trainer().request(dataset(), missing)
    _status_panel(split)


def _status_panel(split) -> None:
    """Polls every 2 s only while a model trains or waits: an idle classroom's sidebars cost the server nothing."""
    if any(j.state in ("running", "queued") for j in trainer().status(dataset())):
        _polling_status(split)
    else:
        _draw_status(split, polling=False)


@st.fragment(run_every=2.0)
def _polling_status(split) -> None:
    _draw_status(split, polling=True)


def _draw_status(split, polling: bool) -> None:
    jobs = {j.method: j for j in trainer().status(dataset())}
    line = [m for m, j in jobs.items() if j.state in ("running", "queued")]  # the queue, in training order
    seen = st.session_state.setdefault("_bg_done", set())
    for method in teaching_order(LEARNED):
        job = jobs.get(method)
        status = artifact_status(split, method)
        if job is not None and job.state in ("running", "queued"):
            text = t(f"bg_{job.state}", method=method, seconds=job.seconds, message=job.message,
                     ahead=line.index(method))
            st.progress(job.fraction if job.state == "running" else 0.0, text=text)
        elif job is not None and job.state == "failed":
            st.caption(t("bg_failed", method=method, error=job.error))
        else:
            st.caption(t(f"model_{status}", method=method))
    finished = {(dataset(), m) for m, j in jobs.items() if j.state == "done"}
    if finished - seen:  # a model arrived: rerun the whole page so it can use it
        seen.update(finished)
        if polling:
            st.rerun(scope="app")
