"""The load test's browserless client (scripts/protocol_client.py) against a real server: each message it sends
is one script run of the right page, widget values of every kind arrive as the pages expect (no error box), a
language switch redraws the page in English, and thirty-style classrooms of it see no errors.

The full-size run is `python scripts/load_test.py --sessions 30` (figures in the README)."""
from __future__ import annotations

import asyncio
import json
import re
import sys

import pytest

from browser import streamlit_server
from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def models(trained):
    for method in ("two_tower", "tdm", "dr", "nann", "nann_plain"):
        trained(method)


def test_each_message_is_one_run_of_its_page_and_widgets_arrive_typed(data_root, models, tmp_path):
    import protocol_client as pc
    import serverbench as sb

    run_log = tmp_path / "runs.jsonl"

    async def walk(base: str) -> list:
        session = pc.Session(base)
        runs = [await session.open("tdm", pc.static_assets(base))]
        assert session.static_bytes > 1_000_000  # index.html, its scripts, Plotly's chunk
        user = session.find("selectbox", re.compile("选择一个测试用户"))[0]
        options = session.options(user)
        runs.append(await session.choose(user, options[3]))
        assert session.value(user) == options[3]
        beam = session.find("slider", key_suffix="-tdm_beam")[0]  # a select slider: its values are labels
        before = session.value(beam)
        runs.append(await session.slide(beam, 1))
        labels = list(session.widgets[beam][1].options)
        assert session.value(beam) == [labels[labels.index(before[0]) + 1]]
        k = session.find("slider", key_suffix="-tdm_k")[0]  # a number slider: its values are numbers
        runs.append(await session.slide(k, -1))
        assert session.value(k) == [session.widgets[k][1].default[0] - 1]
        runs.append(await session.go_to("dr"))
        assert session.find("slider") and not session.find("slider", key_suffix="-tdm_beam")  # DR's widgets now
        language = session.find("radio", key_suffix="-lang")[0]
        runs.append(await session.choose(language, "English"))
        assert session.find("selectbox", re.compile("Pick a test user"))  # redrawn in English
        runs.append(await session.go_to(""))  # the home page
        await session.close()
        return runs

    with streamlit_server(data_root, sb.server_env(run_log)) as (url, _):
        runs = asyncio.run(walk(url))
    for run in runs:
        assert run.status == "FINISHED_SUCCESSFULLY" and not run.errors, run
        assert run.seconds > 0 and run.messages > 3 and run.bytes > 1000
    logged = sb.read_runs(run_log)
    assert [r["page"] for r in logged] == ["tdm"] * 4 + ["dr"] * 2 + ["home"]
    assert {r["outcome"] for r in logged} == {"ok"} and len({r["session"] for r in logged}) == 1


def test_protocol_classroom_sees_no_errors(data_root, models, tmp_path):
    import load_test

    out = tmp_path / "load.json"
    code = load_test.main(["--sessions", "8", "--pages", "tdm,dr,nann,two_tower,compare", "--think", "0.2",
                           "--stagger", "0.2", "--data-dir", str(data_root), "--out", str(out)])
    report = json.loads(out.read_text())
    summary = report["summary"]
    assert summary["client"] == "protocol"
    assert summary["errors"] == 0 and summary["skipped_steps"] == 0, summary["error_details"]
    assert summary["models_trained_by_server"] == 0
    # every student walked the whole path: open, 2 navigations, 2 users, 2 sliders, a language switch
    for session in report["sessions"]:
        steps = [s["step"] for s in session["steps"]]
        assert steps.count("open") == 1 and steps.count("navigate") == 2, steps
        assert steps.count("pick_user") == 2 and steps.count("slider") == 2 and steps.count("language") == 1
    # one server run per message, every one finished: 8 timed actions per student
    runs = summary["server_runs"]
    assert runs["runs"] == 8 * 8 and runs["outcomes"] == {"ok": 64}, runs
    assert summary["client_action_to_finished"]["n"] == 64
    assert len({r["session"] for r in report["runs"] if r["t"] >= 0}) >= 8
    assert summary["server_resources"]["samples"] > 0
    assert code == 0
