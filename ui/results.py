"""Test-set reports of whatever models are trained: stored beside each artifact at training time, read here."""
from __future__ import annotations

import streamlit as st

from recall_core.artifacts import ArtifactError, artifact_path, read_meta
from recall_core.methods import METHODS, artifact_status, default_config, store_evaluation, stored_evaluation
from recall_core.movielens import DataError
from recall_core.protocol import evaluate

from .state import dataset, device, get_retriever, get_split

SHOWN = ["method", "recall@10", "recall@50", "ndcg@50", "bruteforce_recall@50", "scored_per_user", "ms_per_user"]


@st.cache_resource(show_spinner=False, max_entries=64)
def _report(name: str, method: str, device_name: str, created: str) -> dict:
    """A trained model's row: stored beside its artifact at training time (read without loading the model),
    else computed once and stored; a baseline's row is computed (they are cheap)."""
    split = get_split(name)
    if created:
        stored = stored_evaluation(split, method)
        if stored is not None:
            return stored
        return store_evaluation(split, method, get_retriever(name, method, 0, device_name))
    return evaluate(get_retriever(name, method, 0, device_name), split)


def available_reports():
    """(rows for the methods that are trained, split) — or ([], None) without data."""
    try:
        split = get_split(dataset())
    except DataError:
        return [], None
    rows = []
    for method in METHODS:
        if artifact_status(split, method) != "ready":
            continue
        meta = read_meta(artifact_path(dataset(), method, 0)) if default_config(method, dataset()) else None
        try:
            report = _report(dataset(), method, device(), (meta or {}).get("created", ""))
        except ArtifactError:
            continue
        rows.append({k: (round(report[k], 4) if isinstance(report[k], float) else report[k]) for k in SHOWN})
    return rows, split
