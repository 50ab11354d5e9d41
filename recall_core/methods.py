"""The methods the app and the CLIs know, and how to get a trained one.

``load_or_train`` is the single way in: it loads a checked artifact or trains,
saves atomically and returns the retriever, under a file lock so that two
processes (or two browser sessions) asking at once train once.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch

from . import artifacts
from .data import Split
from .protocol import ItemCF, Popularity, Retriever
from .training import Progress, resolve_device
from .dr import DRConfig, dr_state, restore_dr, train_dr
from .nann import NANNConfig, NANNPlainConfig, nann_state, restore_nann, train_nann
from .sid import SIDConfig, restore_sid, sid_state, train_sid
from .tdm import TDMConfig, restore_tdm, tdm_state, train_tdm
from .two_tower import TwoTowerConfig, restore_two_tower, train_two_tower, two_tower_state


@dataclass(frozen=True)
class MethodSpec:
    name: str
    config_cls: type | None = None  # None: nothing to train, built on the fly
    train: Callable | None = None  # (split, cfg, seed, device, progress) -> Retriever
    state: Callable | None = None  # retriever -> (state_dict, arrays)
    restore: Callable | None = None  # (split, cfg, payload, device) -> Retriever
    build: Callable | None = None  # split -> Retriever, for untrained baselines

    @property
    def trainable(self) -> bool:
        return self.config_cls is not None


METHODS: dict[str, MethodSpec] = {
    "popular": MethodSpec("popular", build=Popularity),
    "item_cf": MethodSpec("item_cf", build=ItemCF),
    "two_tower": MethodSpec("two_tower", TwoTowerConfig, train_two_tower, two_tower_state, restore_two_tower),
    "tdm": MethodSpec("tdm", TDMConfig, train_tdm, tdm_state, restore_tdm),
    "dr": MethodSpec("dr", DRConfig, train_dr, dr_state, restore_dr),
    "nann": MethodSpec("nann", NANNConfig, train_nann, nann_state, restore_nann),
    "nann_plain": MethodSpec("nann_plain", NANNPlainConfig, train_nann, nann_state, restore_nann),
    "sid": MethodSpec("sid", SIDConfig, train_sid, sid_state, restore_sid),
}
LEARNED = [name for name, spec in METHODS.items() if spec.trainable]

# RECALL_LAB_PROFILE=quick trains every method with fewer samples / epochs / rounds: the same code, for tests
# and for a classroom laptop that cannot wait (issue 13: all six ml-100k models in 60 s on 2 cores).  Reported
# figures use the default ("full") profile.  Each setting was chosen on ml-100k's validation users (seed 0, one
# thread; recall@50 of the served model, seconds of one model trained beside another as the app trains them):
# - TDM: one epoch per tree of 25,000 samples in batches of 64 and half the negatives: 0.367 in 31 s, where the
#   earlier quick TDM (2 + 1 epochs of 38,551 samples in batches of 256) got 0.366 in 63 s.  Smaller batches are
#   most of it: one epoch per tree with half the negatives, batches of 256 / 128 / 64: 0.358 / 0.364 / 0.374.
# - semantic IDs: 25,000 samples in batches of 64, 0.308 in 18 s (a whole epoch in batches of 256: 0.277, 23 s);
#   still far under the default profile's 0.38 -- a preview of the method, not its figure.
# - NANN: 2 epochs (constant lr, so the first 2 of 4 exactly): 0.371 (the 3rd epoch, 0.384, costs 7 s more),
#   without the adversarial term 0.360.  Smaller batches lost here (64: 0.339).
# - DR: 2 epochs before the EM round and 1 after instead of 3 and 2: the same reranker and served figure (0.370),
#   2 s less; the path model's own beam recall after EM 0.364 (0.369).
PROFILE_ENV = "RECALL_LAB_PROFILE"
QUICK = {
    "two_tower": dict(epochs=5),
    "tdm": dict(epochs=1, round_epochs=1, tree_rounds=1, epoch_samples=25_000, batch_size=64, negative_scale=0.025),
    "dr": dict(epochs=2, round_epochs=1, em_rounds=1, rerank_epochs=4),
    "nann": dict(epochs=2),
    "nann_plain": dict(epochs=2),
    "sid": dict(epochs=1, rq_steps=500, epoch_samples=25_000, batch_size=64),
}


def profile() -> str:
    return "quick" if os.environ.get(PROFILE_ENV, "full").lower() == "quick" else "full"


class MethodError(ValueError):
    pass


def get_spec(method: str) -> MethodSpec:
    if method not in METHODS:
        raise MethodError(f"Unknown method '{method}'. Choose one of: {', '.join(METHODS)}.")
    return METHODS[method]


def default_config(method: str, dataset: str | None = None):
    """The method's config under the current profile (None for untrained baselines).

    On a constructed world (``recall_core.worlds``) the world's own configs apply (``worlds.world_config``),
    so the app, the CLIs and the bench's sweep train and find the same models.
    """
    spec = get_spec(method)
    if not spec.trainable:
        return None
    if dataset is not None:
        from .worlds import is_world, world_config

        if is_world(dataset):
            return world_config(method)
    cfg = spec.config_cls()
    return dataclasses.replace(cfg, **QUICK.get(method, {})) if profile() == "quick" else cfg


def serving_fields(method: str) -> tuple[str, ...]:
    """Config fields used only at search time (``SERVING`` on the config class): changing them
    reuses the trained model, e.g. NANN's graph is built after training (its whole point)."""
    return tuple(getattr(get_spec(method).config_cls, "SERVING", ()))


def artifact_status(split: Split, method: str, seed: int = 0, root: Path | None = None, config=None) -> str:
    """'ready', 'missing' or 'stale' (trained on other data/config/format) without loading weights."""
    spec = get_spec(method)
    if not spec.trainable:
        return "ready"
    meta = artifacts.read_meta(artifacts.artifact_path(split.name, method, seed, root))
    if meta is None:
        return "missing"
    serving = serving_fields(method)
    cfg = artifacts.normalise_config(asdict(config or default_config(method, split.name)), serving)
    ok = (meta.get("format") == artifacts.FORMAT_VERSION and meta.get("data_fingerprint") == split.fingerprint()
          and artifacts.normalise_config(meta.get("config") or {}, serving) == cfg)
    return "ready" if ok else "stale"


def load_or_train(split: Split, method: str, seed: int = 0, device: str | torch.device = "auto", config=None,
                  progress: Progress | None = None, root: Path | None = None, retrain: bool = False,
                  train_if_missing: bool = True, log: Callable[[str], None] | None = None) -> Retriever:
    spec = get_spec(method)
    if not spec.trainable:
        return spec.build(split)
    device = resolve_device(device) if isinstance(device, str) else device
    cfg = config or default_config(method, split.name)
    cfg_dict = asdict(cfg)
    path = artifacts.artifact_path(split.name, method, seed, root)
    say = log or (lambda msg: print(msg, file=sys.stderr))
    with artifacts.exclusive(path):
        if not retrain:
            try:
                payload = artifacts.load(path, method=method, data_fingerprint=split.fingerprint(), config=cfg_dict,
                                         serving=serving_fields(method))
                say(f"[recall-lab] loaded {method} from {path}")
                return spec.restore(split, cfg, payload, device)
            except artifacts.ArtifactError as exc:
                if not train_if_missing:
                    raise
                if path.exists():
                    say(f"{exc} Retraining.")
        start = time.perf_counter()
        if method in MAPS:  # its map is made right after training: compile UMAP meanwhile
            from .projection import prewarm_umap

            prewarm_umap(MAPS[method][1])
        retriever = spec.train(split, cfg, seed, device, progress)
        state, arrays = spec.state(retriever)
        train_log = dict(getattr(retriever, "log", {}) or {})
        train_log["wall_seconds"] = time.perf_counter() - start
        train_log["device"] = str(device)
        retriever.log = train_log
        artifacts.save(path, method=method, data_fingerprint=split.fingerprint(), config=cfg_dict, seed=seed,
                       state=state, arrays=arrays, log=train_log)
        say(f"[recall-lab] trained {method} in {train_log['wall_seconds']:.0f} s, saved to {path}")
        prepare_maps(retriever, method, path)
        if config is None:  # the Home and Compare pages' rows for the default model (see stored_evaluation)
            store_evaluation(split, method, retriever, seed, root)
            store_baseline_evaluations(split, root)
        return retriever


# The 2-D maps pages draw (UMAP of the item vectors): computed once, right after training, and stored beside
# the artifact, so that no visitor waits for UMAP. method -> (attribute holding the vectors, metric)
MAPS = {"two_tower": ("item_vecs", "cosine"), "nann": ("item_vecs", "euclidean"),
        "nann_plain": ("item_vecs", "euclidean"), "sid": ("coded_vectors", "euclidean")}


def map_path(path: Path) -> Path:
    return path.with_suffix(".umap.npz")


def prepare_maps(retriever: Retriever, method: str, path: Path):
    """The method's stored map (computed now if it is missing or was made from other vectors)."""
    if method not in MAPS:
        return None
    from .projection import cached_umap

    attribute, metric = MAPS[method]
    return cached_umap(map_path(path), getattr(retriever, attribute), metric=metric)


# The test-set evaluation the Home and Compare pages show: computed once, right after training, and stored
# beside the artifact (like the maps), so that the first visitor of a fresh server does not wait for every model
# to be loaded and evaluated.  A learned model's row is valid for one artifact (its creation stamp) and one search
# setting (the config); a baseline's (nothing to train) for one split.  Rows carry each test user's recall@50
# (index and brute force), from which Compare draws its segments, and the search setting they were made with,
# chosen on validation users (``validation_search``) as the benchmark chooses it: never on test users.
EVALUATION_FORMAT = 3  # 2: rows carry per-user recall; 3: the index searched at its validation-chosen setting
BASELINES = [name for name, spec in METHODS.items() if not spec.trainable]


def evaluation_path(path: Path) -> Path:
    return path.with_suffix(".eval.json")


def stored_evaluation(split: Split, method: str, seed: int = 0, root: Path | None = None) -> dict | None:
    """The stored evaluation of the ready artifact under today's default config (a baseline: of this split),
    or None."""
    path = artifacts.artifact_path(split.name, method, seed, root)
    meta = artifacts.read_meta(path) if get_spec(method).trainable else {}
    if meta is None or artifact_status(split, method, seed, root) != "ready":
        return None
    try:
        stored = json.loads(evaluation_path(path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict):
        return None
    key = _evaluation_key(split, method, meta)
    return stored.get("report") if stored.get("key") == key else None


def validation_search(method: str, retriever: Retriever, split: Split) -> dict | None:
    """The index's search setting for the stored rows, chosen on validation users by ``tuning.pick`` (the cheapest
    setting within ``tuning.TOLERANCE`` of the model's brute-force recall@50 there): read off the budget curve
    the training logged on validation users (TDM, DR, NANN, semantic IDs: nothing searched again), else swept
    now (``tuning.choose_search``: the two-tower's hnswlib ef). None for a method without an index knob."""
    from .tuning import choose_search, pick

    log = getattr(retriever, "log", None) or {}
    curve = log.get("budget_curve") or []
    ceiling = log.get("bruteforce_recall@50")
    if ceiling is None:  # TDM's curve ends with the exhaustive beam: brute force itself
        ceiling = next((row["recall@50"] for row in curve if row.get("exhaustive")), None)
    if curve and ceiling is not None:
        keys = [key for key in curve[0] if key not in ("scored_per_user", "recall@50", "exhaustive")]
        return {"setting": pick(curve, ceiling, keys), "valid_ceiling": float(ceiling), "source": "training curve"}
    choice = choose_search(method, retriever, split.valid, whole_curve=False)
    return None if choice is None else {"setting": choice.setting, "valid_ceiling": choice.ceiling, "source": "sweep"}


def store_evaluation(split: Split, method: str, retriever: Retriever, seed: int = 0, root: Path | None = None) -> dict:
    """Evaluate the model on the test users (``protocol.evaluate`` at the search setting chosen on validation,
    per-user recall included) and store the row."""
    from .protocol import evaluate

    path = artifacts.artifact_path(split.name, method, seed, root)
    search = validation_search(method, retriever, split) if get_spec(method).trainable else None
    report = evaluate(retriever, split, per_user=True, search=search["setting"] if search else None)
    if search is not None:
        report["validation_search"] = search
    meta = artifacts.read_meta(path) if get_spec(method).trainable else {}
    if meta is not None:
        record = {"key": _evaluation_key(split, method, meta), "report": report}
        artifacts.atomic_write_bytes(evaluation_path(path),
                                     lambda fh: fh.write(json.dumps(record, default=float).encode()))
    return report


def evaluation_row(split: Split, method: str, make_retriever: Callable[[], Retriever], seed: int = 0,
                   root: Path | None = None) -> dict:
    """The stored row, else the model (``make_retriever()``, called only then) evaluated now and stored."""
    stored = stored_evaluation(split, method, seed, root)
    return stored if stored is not None else store_evaluation(split, method, make_retriever(), seed, root)


def store_baseline_evaluations(split: Split, root: Path | None = None) -> None:
    """The baselines' rows (popularity, item-CF) for this split, unless stored already (seconds at 10k items)."""
    for method in BASELINES:
        evaluation_row(split, method, lambda method=method: get_spec(method).build(split), root=root)


def _evaluation_key(split: Split, method: str, meta: dict) -> dict:
    cfg = default_config(method, split.name)
    return {"format": EVALUATION_FORMAT, "method": method, "created": meta.get("created"),
            "data": split.fingerprint(),
            "config": artifacts.normalise_config(asdict(cfg)) if cfg is not None else None}
