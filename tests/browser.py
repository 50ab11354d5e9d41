"""Helpers for real-browser tests: a streamlit server on loopback, Debian's Chromium via Playwright."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from conftest import ROOT

CHROMIUM = os.environ.get("RECALL_LAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]
SCREENSHOTS = ROOT / "test-output" / "screenshots"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def streamlit_server(data_root: Path, extra_env: dict | None = None, cpus: set[int] | None = None):
    """``streamlit run app.py`` on a free loopback port; yields (url, process).  ``cpus``: pin the server
    (every thread it will start) to these CPUs, e.g. to keep a benchmark's browsers off its cores."""
    port = free_port()
    env = {**os.environ, "RECALL_LAB_DATA": str(data_root), **(extra_env or {})}
    log = open(data_root / f"streamlit-{port}.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
                             "--server.port", str(port), "--server.address", "127.0.0.1",
                             "--server.headless", "true"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError((data_root / f"streamlit-{port}.log").read_text())
                time.sleep(0.3)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


APP_STATE = "() => { const e = document.querySelector('[data-testid=stApp]'); " \
            "return e ? [e.getAttribute('data-test-script-state'), e.getAttribute('data-test-connection-state')] : [] }"


def wait_until_idle(page, timeout_s: float = 180, quiet_s: float = 1.0, expect_run: bool = True) -> float:
    """Wait for the script run to finish: stApp's data-test-script-state is 'notRunning' and no
    spinner shows, continuously for ``quiet_s``.  With ``expect_run`` (after a click), first give
    the rerun up to 3 s to start, so an old 'notRunning' is not mistaken for the end.
    Returns the perf_counter time at which the app became idle (the start of the quiet period)."""
    deadline = time.time() + timeout_s
    if expect_run:
        start = time.time()
        while time.time() - start < 3 and (page.evaluate(APP_STATE) or [None])[0] != "running":
            time.sleep(0.1)
    quiet_since = None
    while time.time() < deadline:
        state = page.evaluate(APP_STATE)
        busy = not state or state[0] != "notRunning" or state[1] != "CONNECTED" or \
            page.locator("[data-testid='stSpinner']").count() > 0
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since, idle_at = time.time(), time.perf_counter()
        elif time.time() - quiet_since >= quiet_s:
            time.sleep(0.5)  # let Plotly finish drawing
            return idle_at
        time.sleep(0.15)
    raise TimeoutError("the app did not finish its run in time")


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
