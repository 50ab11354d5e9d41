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
def streamlit_server(data_root: Path, extra_env: dict | None = None):
    port = free_port()
    env = {**os.environ, "RECALL_LAB_DATA": str(data_root), **(extra_env or {})}
    log = open(data_root / f"streamlit-{port}.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
                             "--server.port", str(port), "--server.address", "127.0.0.1",
                             "--server.headless", "true"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
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


def wait_until_idle(page, timeout_s: float = 180, quiet_s: float = 1.5) -> None:
    """Wait until the app shows no running indicator and no spinner for ``quiet_s`` in a row."""
    page.wait_for_selector("[data-testid='stAppViewContainer']", timeout=timeout_s * 1000)
    busy = "[data-testid='stStatusWidgetRunningIcon'], [data-testid='stStatusWidget'], [data-testid='stSpinner']"
    deadline, quiet_since = time.time() + timeout_s, None
    while time.time() < deadline:
        if page.locator(busy).count():
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.time()
        elif time.time() - quiet_since >= quiet_s:
            break
        time.sleep(0.2)
    time.sleep(0.5)


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
