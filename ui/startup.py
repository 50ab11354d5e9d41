"""Server start-up (``st.App``'s lifespan, see app.py): warm the process before the first visitor arrives.

Without it, the first visitor of a fresh server pays for importing torch, Plotly and the models' code and for
loading the models (seconds on 2 cores); with it, the server does that right after it starts, in a background
thread, and the first visitor finds a warm process: the default dataset's models, then those of the most
recently trained other dataset (``datasets_to_warm``). ``RECALL_LAB_WARM_UP=0`` turns it off (as under pytest).
"""
from __future__ import annotations

import importlib
import logging
import pkgutil
import threading
from contextlib import asynccontextmanager

log = logging.getLogger("recall_lab")

DEFAULT_DATASET = "ml-100k"  # what the sidebar shows first (ui.state.dataset)


def prepare_server(dataset: str = DEFAULT_DATASET) -> list[str]:
    """Import what the pages need and load ``dataset``'s ready models into the shared cache
    (``ui.state.warm_up``, the same entry the sidebar uses, so nothing is loaded twice). Returns the models
    loaded; a dataset not downloaded yet loads nothing (the sidebar offers the download)."""
    import plotly.graph_objects  # noqa: F401 — imported for the pages, once
    import recall_core.viz

    from recall_core.background import teaching_order
    from recall_core.methods import LEARNED, artifact_status
    from recall_core.movielens import is_ready
    from recall_core.worlds import is_constructed

    from . import state, widgets  # noqa: F401

    for module in pkgutil.iter_modules(recall_core.viz.__path__):
        importlib.import_module(f"recall_core.viz.{module.name}")
    split = state.get_split(dataset) if is_constructed(dataset) or is_ready(dataset) else None
    ready = tuple(m for m in teaching_order(LEARNED) if split is not None and artifact_status(split, m) == "ready")
    if split is not None:
        state.warm_up(dataset, ready, "auto").join()
    return list(ready)


def needs_training(ready) -> bool:
    """True while a model the pages teach with (``methods.LEARNED``) is not among ``ready``."""
    from recall_core.methods import LEARNED

    return any(m not in ready for m in LEARNED)


def datasets_to_warm(default: str = DEFAULT_DATASET) -> list[str]:
    """The default dataset, then the most recently trained other one (a teacher who trained a catalogue for
    the lesson opens it with ``?dataset=``): two datasets at most, so a data root full of benchmark worlds does
    not fill the server's memory at start-up."""
    from recall_core.artifacts import trained_datasets

    others = [name for name in trained_datasets() if name != default]
    return [default] + others[:1]


def _prepare_in_background() -> None:
    """Every dataset's models first; then, while the default dataset still lacks a model, the warm parent of the
    training processes (``recall_core.train_zygote``: 3-4 s of imports, paid now instead of by the first
    training), last, so that a visitor arriving at once does not wait behind it."""
    start_trainer = False
    for name in datasets_to_warm():
        try:
            loaded = prepare_server(name)
            log.info("start-up: imports done, %s models loaded: %s", name, ", ".join(loaded) or "none ready")
            start_trainer |= name == DEFAULT_DATASET and needs_training(loaded)
        except Exception:  # noqa: BLE001 — a failed warm-up only means the first visitor waits
            log.exception("start-up warm-up of %s failed", name)
    if start_trainer:
        from recall_core.train_zygote import ZYGOTE

        ZYGOTE.start()


@asynccontextmanager
async def lifespan(app):
    from .state import warm_up_enabled

    if warm_up_enabled():
        threading.Thread(target=_prepare_in_background, daemon=True, name="recall-lab-start-up").start()
    yield
