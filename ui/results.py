"""Test-set reports of the baselines and whatever models are trained: stored beside each artifact at training
time (``methods.store_evaluation``), read here by the Home and Compare pages."""
from __future__ import annotations

import streamlit as st

from recall_core.artifacts import ArtifactError, artifact_path, read_meta
from recall_core.compare import SEARCH_COLUMN, setting_text
from recall_core.methods import METHODS, artifact_status, evaluation_row, get_spec
from recall_core.movielens import DataError

from .state import dataset, device, get_retriever, get_split, t

SHOWN = ["method", "recall@10", "recall@50", "ndcg@50", "bruteforce_recall@50", "scored_per_user", "ms_per_user"]


@st.cache_resource(show_spinner=False, max_entries=64)
def _report(name: str, method: str, device_name: str, created: str) -> dict:
    """A method's row: stored at training time (read without loading the model), else computed once and stored.
    ``created`` (the artifact's stamp) keys the cache, so a retrained model gets its new row."""
    return evaluation_row(get_split(name), method, lambda: get_retriever(name, method, 0, device_name))


def model_reports(name: str) -> dict[str, dict]:
    """method -> test report, for the baselines and the learned methods that are trained (never trains);
    each report has ``train_seconds`` and ``budget_curve`` from the artifact's log (None for a baseline)."""
    split = get_split(name)
    out = {}
    with st.spinner(t("results_computing")):  # drawn only when a row was not stored (older artifacts)
        for method in METHODS:
            if artifact_status(split, method) != "ready":
                continue
            meta = (read_meta(artifact_path(name, method, 0)) if get_spec(method).trainable else None) or {}
            try:
                report = _report(name, method, device(), meta.get("created", ""))
            except ArtifactError:
                continue
            log = meta.get("log") or {}
            out[method] = dict(report, train_seconds=log.get("train_seconds", log.get("wall_seconds")),
                               budget_curve=log.get("budget_curve"))
    return out


def available_reports():
    """(Home's rows for the methods that are ready, split) — or ([], None) without data."""
    try:
        split = get_split(dataset())
    except DataError:
        return [], None
    return [_home_row(r) for r in model_reports(dataset()).values()], split


def _home_row(report: dict) -> dict:
    row = {k: round(report[k], 4) if isinstance(report[k], float) else report[k] for k in SHOWN}
    row[SEARCH_COLUMN] = setting_text(report.get("search"))
    return row
