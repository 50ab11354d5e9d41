"""Trained models on disk: one file per (dataset, method, seed), written atomically.

A payload is a plain dict of tensors, numbers and strings, saved with
``torch.save`` to a temporary file that is then ``os.replace``d over the old one,
so a crash mid-save leaves the previous artifact intact.  Loading uses
``torch.load(weights_only=True)`` and checks the format version, the method, the
data fingerprint and the configuration before anything is used.  A file lock
makes two processes that want the same model train it once.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from .paths import data_root

FORMAT_VERSION = 1


class ArtifactError(Exception):
    """An artifact that cannot be used; the message says why and what to do."""


def artifact_path(dataset: str, method: str, seed: int, root: Path | None = None) -> Path:
    return (root or data_root()) / "artifacts" / dataset / f"{method}-seed{seed}.pt"


def trained_datasets(root: Path | None = None) -> list[str]:
    """Datasets with at least one model artifact under the data root, the most recently trained first."""
    newest = {}
    for model in ((root or data_root()) / "artifacts").glob("*/*-seed*.pt"):
        try:
            newest[model.parent.name] = max(newest.get(model.parent.name, 0.0), model.stat().st_mtime)
        except OSError:
            continue
    return sorted(newest, key=newest.get, reverse=True)


def normalise_config(config: dict, ignore: tuple[str, ...] = ()) -> dict:
    """The config as it reads back from JSON (tuples become lists), for comparisons;
    ``ignore`` drops serving-only settings (beam size, ef, ...) that a trained model does not depend on."""
    return {k: v for k, v in json.loads(json.dumps(config, sort_keys=True)).items() if k not in ignore}


def to_tensors(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.array(v, copy=True)) for k, v in arrays.items()}


def to_numpy(tensors: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in tensors.items()}


def atomic_write_bytes(path: Path, write) -> None:
    """Call ``write(file_object)`` on a temp file beside ``path``, fsync, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def save(path: Path, *, method: str, data_fingerprint: str, config: dict, seed: int,
         state: dict[str, torch.Tensor], arrays: dict[str, np.ndarray] | None = None,
         log: dict | None = None) -> None:
    payload = {
        "format": FORMAT_VERSION, "method": method, "data_fingerprint": data_fingerprint,
        "config": json.dumps(config, sort_keys=True), "seed": seed,
        "state": {k: v.detach().cpu() for k, v in state.items()},
        "arrays": to_tensors(arrays or {}), "log": json.dumps(log or {}),
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    atomic_write_bytes(path, lambda fh: torch.save(payload, fh))
    meta = {k: payload[k] for k in ("format", "method", "data_fingerprint", "seed", "created")}
    meta.update(config=config, log=log or {})
    atomic_write_bytes(path.with_suffix(".json"), lambda fh: fh.write(json.dumps(meta, indent=1).encode()))


def load(path: Path, *, method: str, data_fingerprint: str, config: dict, serving: tuple[str, ...] = ()) -> dict:
    """Read and check an artifact; raise :class:`ArtifactError` rather than return a mismatch.
    Settings named in ``serving`` may differ: they only steer search over the trained model."""
    if not path.exists():
        raise ArtifactError(f"No trained {method} model at {path}.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, foreign pickle, unsafe globals...
        raise ArtifactError(
            f"{path.name} is unreadable ({type(exc).__name__}); it is probably truncated. "
            f"Retrain it: python -m recall_core.train --method {method}"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION:
        found = payload.get("format") if isinstance(payload, dict) else "?"
        raise ArtifactError(f"{path.name} has format {found}, this version reads {FORMAT_VERSION}; retrain it.")
    if payload.get("method") != method:
        raise ArtifactError(f"{path.name} holds a {payload.get('method')} model, not {method}.")
    if payload.get("data_fingerprint") != data_fingerprint:
        raise ArtifactError(f"{path.name} was trained on other data or another split; retrain it.")
    if normalise_config(json.loads(payload["config"]), serving) != normalise_config(config, serving):
        raise ArtifactError(f"{path.name} was trained with another configuration; retrain it.")
    payload["config"] = config
    payload["log"] = json.loads(payload.get("log") or "{}")
    payload["arrays"] = to_numpy(payload.get("arrays", {}))
    return payload


def read_meta(path: Path) -> dict | None:
    """The JSON sidecar (for status panels); None when absent or unreadable."""
    try:
        return json.loads(path.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def exclusive(path: Path):
    """An inter-process lock beside ``path``: the second trainer waits, then reuses."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
