"""Test-set reports of whatever models are available, computed once per server."""
from __future__ import annotations

import streamlit as st

from recall_core.artifacts import ArtifactError
from recall_core.movielens import DataError
from recall_core.methods import METHODS
from recall_core.protocol import evaluate

from .state import dataset, device, get_retriever, get_split

SHOWN = ["method", "recall@10", "recall@50", "ndcg@50", "bruteforce_recall@50", "scored_per_user", "ms_per_user"]


@st.cache_resource(show_spinner=False, max_entries=64)
def _report(name: str, method: str, device_name: str, created: str) -> dict:
    return evaluate(get_retriever(name, method, 0, device_name), get_split(name))


def available_reports():
    """(rows for the methods that are trained, split) — or ([], None) without data."""
    try:
        split = get_split(dataset())
    except DataError:
        return [], None
    rows = []
    for method in METHODS:
        try:
            retriever = get_retriever(dataset(), method, 0, device())
        except ArtifactError:
            continue
        created = str((getattr(retriever, "log", None) or {}).get("wall_seconds", ""))
        report = _report(dataset(), method, device(), created)
        rows.append({k: (round(report[k], 4) if isinstance(report[k], float) else report[k]) for k in SHOWN})
    return rows, split
