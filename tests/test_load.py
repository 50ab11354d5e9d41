"""A small classroom in CI: several browser sessions at once, no errors, each model loaded once.

The full-size run is `python scripts/load_test.py --sessions 20` (figures in the README)."""
from __future__ import annotations

import json
import os
import sys

import pytest

from conftest import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_concurrent_sessions_share_models_and_see_no_errors(data_root, trained, tmp_path):
    if not os.path.exists("/usr/bin/chromium") and not os.environ.get("CI"):
        pytest.skip("Chromium not installed")
    for method in ("two_tower", "tdm", "dr", "nann"):
        trained(method)
    sys.path.insert(0, str(ROOT / "scripts"))
    import load_test

    out = tmp_path / "load.json"
    code = load_test.main(["--sessions", "6", "--data-dir", str(data_root), "--out", str(out)])
    summary = json.loads(out.read_text())["summary"]
    assert summary["errors"] == 0, summary["error_details"]
    assert summary["models_trained_by_server"] == 0
    assert all(count <= 1 for count in summary["model_loads"].values()), summary["model_loads"]
    assert code == 0
