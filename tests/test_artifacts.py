"""Atomic, checked, locked artifacts."""
from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import signal
import time

import numpy as np
import pytest
import torch

from recall_core import artifacts
from recall_core.methods import MethodError, artifact_status, get_spec, load_or_train
from recall_core.two_tower import TwoTowerConfig

TINY = TwoTowerConfig(dim=16, hidden=32, epochs=1, batch_size=256)


def test_save_load_roundtrip_and_checks(tmp_path):
    path = tmp_path / "m.pt"
    state = {"w": torch.arange(6.0).reshape(2, 3)}
    artifacts.save(path, method="two_tower", data_fingerprint="abc", config={"a": 1}, seed=0, state=state,
                   arrays={"tree": np.array([1, 2, 3])}, log={"losses": [1.0]})
    payload = artifacts.load(path, method="two_tower", data_fingerprint="abc", config={"a": 1})
    assert torch.equal(payload["state"]["w"], state["w"]) and payload["arrays"]["tree"].tolist() == [1, 2, 3]
    with pytest.raises(artifacts.ArtifactError, match="another configuration"):
        artifacts.load(path, method="two_tower", data_fingerprint="abc", config={"a": 2})
    with pytest.raises(artifacts.ArtifactError, match="other data"):
        artifacts.load(path, method="two_tower", data_fingerprint="xyz", config={"a": 1})
    with pytest.raises(artifacts.ArtifactError, match="holds a two_tower model"):
        artifacts.load(path, method="tdm", data_fingerprint="abc", config={"a": 1})


def test_truncated_file_is_a_clear_error(tmp_path):
    path = tmp_path / "m.pt"
    artifacts.save(path, method="x", data_fingerprint="f", config={}, seed=0, state={"w": torch.zeros(1000)})
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(artifacts.ArtifactError, match="unreadable"):
        artifacts.load(path, method="x", data_fingerprint="f", config={})


def test_older_format_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "m.pt"
    monkeypatch.setattr(artifacts, "FORMAT_VERSION", 0)
    artifacts.save(path, method="x", data_fingerprint="f", config={}, seed=0, state={})
    monkeypatch.setattr(artifacts, "FORMAT_VERSION", 1)
    with pytest.raises(artifacts.ArtifactError, match="format 0"):
        artifacts.load(path, method="x", data_fingerprint="f", config={})


def test_pickled_code_is_never_executed(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    path = tmp_path / "evil.pt"
    torch.save({"format": 1, "payload": Evil()}, path, pickle_module=pickle)
    with pytest.raises(artifacts.ArtifactError):
        artifacts.load(path, method="x", data_fingerprint="f", config={})
    assert not (tmp_path / "pwned").exists()


def _slow_saver(path: str) -> None:
    big = {"w": torch.randn(4_000_000)}

    def write(fh):
        torch.save(big, fh)
        time.sleep(30)  # killed here, mid-save

    artifacts.atomic_write_bytes(__import__("pathlib").Path(path), write)


def test_sigkill_during_save_keeps_previous_artifact(tmp_path):
    path = tmp_path / "m.pt"
    artifacts.save(path, method="x", data_fingerprint="f", config={}, seed=0, state={"w": torch.ones(3)})
    proc = mp.get_context("spawn").Process(target=_slow_saver, args=(str(path),))
    proc.start()
    deadline = time.time() + 60
    while time.time() < deadline and not any(p.name.endswith(".tmp") and p.stat().st_size > 1e6
                                             for p in tmp_path.iterdir()):
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    payload = artifacts.load(path, method="x", data_fingerprint="f", config={})
    assert torch.equal(payload["state"]["w"], torch.ones(3))


def _train_in_child(root: str, queue) -> None:
    os.environ["RECALL_LAB_DATA"] = root
    from recall_core.data import make_synthetic
    from recall_core.methods import load_or_train as lot

    split = make_synthetic(n_users=200, n_items=100, seed=5)
    trained = []
    import recall_core.two_tower as tt

    original = tt.train_two_tower

    def counting(*args, **kwargs):
        trained.append(1)
        return original(*args, **kwargs)

    from recall_core import methods

    spec = methods.METHODS["two_tower"]
    methods.METHODS["two_tower"] = dataclasses.replace(spec, train=counting)
    lot(split, "two_tower", config=TINY, device="cpu")
    queue.put(len(trained))


def test_two_processes_training_the_same_model_train_once(tmp_path):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_train_in_child, args=(str(tmp_path), queue)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    counts = sorted(queue.get(timeout=5) for _ in procs)
    assert counts == [0, 1]


def test_load_or_train_retrains_a_stale_artifact(tmp_path, synthetic):
    first = load_or_train(synthetic, "two_tower", config=TINY, root=tmp_path, device="cpu")
    assert artifact_status(synthetic, "two_tower", root=tmp_path, config=TINY) == "ready"
    other = dataclasses.replace(TINY, dim=8)
    assert artifact_status(synthetic, "two_tower", root=tmp_path, config=other) == "stale"
    with pytest.raises(artifacts.ArtifactError):
        load_or_train(synthetic, "two_tower", config=other, root=tmp_path, train_if_missing=False)
    second = load_or_train(synthetic, "two_tower", config=other, root=tmp_path, device="cpu", log=lambda m: None)
    assert second.item_vecs.shape[1] == 8 and first.item_vecs.shape[1] == 16
    reloaded = load_or_train(synthetic, "two_tower", config=other, root=tmp_path, train_if_missing=False)
    assert np.allclose(reloaded.item_vecs, second.item_vecs)


def test_serving_settings_reuse_the_trained_model(tmp_path, synthetic):
    """Changing ef / M (search-time only) loads the same weights and builds the index anew."""
    first = load_or_train(synthetic, "two_tower", config=TINY, root=tmp_path, device="cpu", log=lambda m: None)
    wider = dataclasses.replace(TINY, hnsw_ef=200, hnsw_M=8)
    assert artifact_status(synthetic, "two_tower", root=tmp_path, config=wider) == "ready"
    again = load_or_train(synthetic, "two_tower", config=wider, root=tmp_path, train_if_missing=False)
    assert np.allclose(again.item_vecs, first.item_vecs) and again.cfg.hnsw_ef == 200
    assert artifacts.normalise_config({"beam": 5, "lr": 0.1}, ("beam",)) == {"lr": 0.1}
    for method, fields in (("tdm", {"beam"}), ("dr", {"beam"}), ("nann", {"ef", "steps", "hnsw_M"})):
        assert fields <= set(get_spec(method).config_cls.SERVING)
        assert fields <= set(dataclasses.asdict(get_spec(method).config_cls()))  # real fields, no typos


def test_unknown_method():
    with pytest.raises(MethodError, match="Unknown method 'ddr'"):
        get_spec("ddr")
