"""Shared fixtures: a throw-away data root, MovieLens from ../shared (never the internet)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_MOVIELENS = Path(os.environ.get("RECALL_LAB_TEST_MOVIELENS", ROOT.parent / "shared" / "movielens")).resolve()


def pytest_configure(config):
    # Point the real downloader at the local mirror: tests exercise the download path offline.
    os.environ["RECALL_LAB_MIRROR"] = SHARED_MOVIELENS.as_uri()
    os.environ.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")
    # The quick profile: every method's full code path with fewer epochs, so the suite fits in CI.
    os.environ.setdefault("RECALL_LAB_PROFILE", "quick")
    # Pages and servers under test do not start background training unless a test asks for it.
    os.environ.setdefault("RECALL_LAB_AUTOTRAIN", "0")
    # nor load ready models in the background (ui.state.warm_up): a test asks for it where it checks it
    os.environ.setdefault("RECALL_LAB_WARM_UP", "0")


@pytest.fixture(scope="session")
def shared_movielens() -> Path:
    if not (SHARED_MOVIELENS / "ml-100k.zip").exists():
        message = f"MovieLens mirror not found at {SHARED_MOVIELENS} (set RECALL_LAB_TEST_MOVIELENS)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return SHARED_MOVIELENS


@pytest.fixture(scope="session")
def data_root(tmp_path_factory, shared_movielens) -> Path:
    """One data root for the session: ml-100k downloaded through the file:// mirror."""
    root = tmp_path_factory.mktemp("recall-lab-data")
    os.environ["RECALL_LAB_DATA"] = str(root)
    from recall_core.movielens import ensure_dataset

    ensure_dataset("ml-100k", root=root)
    return root


@pytest.fixture(scope="session")
def ml100k(data_root):
    from recall_core.data import load_split

    return load_split("ml-100k", root=data_root)


@pytest.fixture(scope="session")
def trained(data_root, ml100k):
    """Returns a function that gives a trained default model of a method (trained once per session)."""
    from recall_core.methods import load_or_train

    cache = {}

    def get(method: str):
        if method not in cache:
            cache[method] = load_or_train(ml100k, method, seed=0, device="cpu", root=data_root)
        return cache[method]

    return get


@pytest.fixture
def ml100k_folder(tmp_path, shared_movielens) -> Path:
    """A writable copy of the original ml-100k files, to damage in tests."""
    dst = tmp_path / "ml-100k"
    shutil.copytree(shared_movielens / "ml-100k", dst)
    for f in dst.iterdir():
        f.chmod(0o644)
    return dst


@pytest.fixture(scope="session")
def synthetic():
    from recall_core.data import make_synthetic

    return make_synthetic(n_users=300, n_items=200, n_topics=5, seed=1)
