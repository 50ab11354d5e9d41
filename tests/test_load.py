"""A small classroom in CI: a few Chromium sessions follow the student path at once against one server;
no errors, the server's run log records their script runs, each model loaded once and none trained.
(The browserless client of the 30-session run is tested in test_protocol_client.py.)

The full-size run is `python scripts/load_test.py --sessions 30` (figures in the README)."""
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
    for method in ("two_tower", "tdm", "dr", "nann", "nann_plain"):  # the NANN page also shows the plain variant
        trained(method)
    sys.path.insert(0, str(ROOT / "scripts"))
    import load_test

    out = tmp_path / "load.json"
    code = load_test.main(["--client", "browser", "--sessions", "4", "--browsers", "2", "--pages", "tdm,dr,nann,two_tower",
                           "--think", "0.3", "--stagger", "0.5", "--data-dir", str(data_root), "--out", str(out)])
    report = json.loads(out.read_text())
    summary = report["summary"]
    assert summary["client"] == "browser" and summary["browser_action_to_idle"]["n"] > 0
    assert summary["errors"] == 0, summary["error_details"]
    assert summary["skipped_steps"] == 0  # every control of the path was there
    assert summary["models_trained_by_server"] == 0
    assert all(count <= 1 for count in summary["model_loads"].values()), summary["model_loads"]
    # the server timed the students' script runs: at least one per page-changing step of every session
    runs = summary["server_runs"]
    assert runs["runs"] >= 4 * 5, runs
    assert runs["outcomes"].get("ok", 0) > 0 and not any(o.startswith("error") for o in runs["outcomes"])
    assert {"two_tower", "tdm", "dr", "nann"} <= set(summary["server_runs_by_page"])
    assert len({r["session"] for r in report["runs"]}) >= 4
    assert 0 < runs["p50_s"] <= runs["p95_s"] <= runs["p99_s"]
    # every student finished the path (open + navigate twice at least) and the server was sampled
    assert all(sum(s["step"] in ("open", "navigate") for s in r["steps"]) == 3 for r in report["sessions"])
    assert summary["server_resources"]["samples"] > 0 and summary["server_resources"]["peak_rss_mb"] > 100
    assert code == 0
