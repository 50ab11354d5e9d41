"""The server-side run log (ui/runlog.py): one JSON line per script run, never an exception."""
from __future__ import annotations

import json
import pstats
import threading
from types import SimpleNamespace

import pytest
import streamlit as st
from streamlit.runtime.scriptrunner_utils.exceptions import RerunException, StopException
from streamlit.testing.v1 import AppTest

from conftest import ROOT
from ui.runlog import append_line, page_name, read_runs, timed_run


def test_lines_from_many_threads_never_interleave(tmp_path):
    path = tmp_path / "runs.jsonl"
    payload = "x" * 2000  # longer than a pipe buffer line, shorter than a page

    def writer(n: int) -> None:
        for i in range(200):
            assert append_line(path, {"writer": n, "i": i, "pad": payload})

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    lines = path.read_text().splitlines()
    assert len(lines) == 1600
    records = [json.loads(line) for line in lines]  # every line is whole
    assert sorted((r["writer"], r["i"]) for r in records) == [(n, i) for n in range(8) for i in range(200)]


def test_an_unwritable_log_is_skipped_silently(tmp_path):
    assert append_line(tmp_path, {"a": 1}) is False  # a directory
    assert append_line(tmp_path / "missing" / "runs.jsonl", {"a": 1}) is False
    with timed_run(str(tmp_path)) as run:  # the body still runs and nothing is raised
        run.page = None
    assert read_runs(tmp_path / "nothing.jsonl") == []


def test_timed_run_records_duration_page_and_outcome(tmp_path):
    path = tmp_path / "runs.jsonl"
    page = SimpleNamespace(url_path="tdm", title="TDM")  # st.Page is only complete inside a script run
    with timed_run(str(path)) as run:
        run.page = page
    for exc in (StopException(), RerunException(None), KeyError("boom")):
        with pytest.raises(type(exc)):  # control flow (st.stop, st.rerun) and errors pass through untouched
            with timed_run(str(path)) as run:
                run.page = page
                raise exc
    runs = read_runs(path)
    assert [r["outcome"] for r in runs] == ["ok", "stop", "rerun", "error:KeyError"]
    assert all(r["page"] == "tdm" and r["seconds"] >= 0 and r["t"] > 0 for r in runs)
    assert all(0 <= r["cpu_seconds"] <= r["seconds"] + 0.01 for r in runs)
    assert all(r["session"] is None for r in runs)  # outside a Streamlit session


def test_default_page_is_named_by_its_declared_path():
    home = SimpleNamespace(url_path="", _url_path="home", title="Home")  # Streamlit reports "" for the default
    assert page_name(home) == "home"
    assert page_name(SimpleNamespace(url_path="", title="Home")) == "Home"
    assert page_name(None) == "?"


def test_profiles_are_written_per_run(tmp_path):
    with timed_run(None, str(tmp_path / "prof")) as run:
        run.page = SimpleNamespace(url_path="dr", title="DR")
        sum(i * i for i in range(10_000))
    files = list((tmp_path / "prof").glob("dr-*.prof"))
    assert len(files) == 1
    assert pstats.Stats(str(files[0])).total_calls > 0


def test_the_app_logs_each_script_run(tmp_path, monkeypatch):
    """The real script (recall_lab.py): a run of the home page and of a page that stops (no data here) are both logged."""
    log = tmp_path / "runs.jsonl"
    monkeypatch.setenv("RECALL_LAB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("RECALL_LAB_RUN_LOG", str(log))
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(str(ROOT / "recall_lab.py"), default_timeout=120)
        at.session_state["lang"] = "en"
        at.run()
        assert not at.exception
        at.switch_page("app_pages/two_tower.py").run()
        assert not at.exception
    finally:
        st.cache_resource.clear()
    runs = read_runs(log)
    assert [(r["page"], r["outcome"]) for r in runs] == [("home", "ok"), ("two_tower", "stop")]
    assert runs[0]["session"] and runs[0]["session"] == runs[1]["session"]
    assert all(0 < r["seconds"] < 120 and 0 < r["cpu_seconds"] for r in runs)
    assert all(r["cpu_seconds"] <= r["seconds"] + 0.05 for r in runs)  # one thread's CPU time within the wall time
