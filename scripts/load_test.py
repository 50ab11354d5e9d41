"""A bounded classroom load test: N browser sessions at once against one `streamlit run app.py`.

    python scripts/load_test.py --sessions 20

Each session opens one of the method pages in Debian's Chromium (Playwright), waits for the
first render, then runs a search for another user and waits again.  Prints (and writes as JSON)
errors, p50 / p95 render times, the server's peak memory, and how many times each model was
loaded or trained by the server (each at most once: models are shared by every session).
Needs trained models in the data root (python -m recall_core.train --method all).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from browser import APP_STATE, CHROMIUM, CHROMIUM_ARGS, streamlit_server  # noqa: E402
from recall_core.paths import data_root  # noqa: E402


async def idle(page, timeout_s: float = 180.0, quiet_s: float = 1.0, expect_run: bool = True) -> None:
    """Async twin of tests/browser.py's wait_until_idle."""
    deadline = time.time() + timeout_s
    if expect_run:
        start = time.time()
        while time.time() - start < 3 and ((await page.evaluate(APP_STATE)) or [None])[0] != "running":
            await asyncio.sleep(0.1)
    since = None
    while time.time() < deadline:
        state = await page.evaluate(APP_STATE)
        busy = not state or state[0] != "notRunning" or state[1] != "CONNECTED" or \
            await page.locator("[data-testid='stSpinner']").count() > 0
        if busy:
            since = None
        elif since is None:
            since = time.time()
        elif time.time() - since >= quiet_s:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError("page did not settle")


async def session(browser, url: str, slug: str, number: int) -> dict:
    await asyncio.sleep(0.25 * number)  # students arrive within a few seconds of each other
    context = await browser.new_context(viewport={"width": 1300, "height": 1000})
    page = await context.new_page()
    page.set_default_timeout(180_000)  # 20 Chromium pages share this machine's 2 cores with the server
    result = {"session": number, "page": slug, "errors": []}
    try:
        start = time.perf_counter()
        await page.goto(f"{url}/{slug}")
        await idle(page)
        result["first_render_s"] = time.perf_counter() - start
        start = time.perf_counter()
        box = page.locator("[data-testid='stMain'] [data-testid='stSelectbox']").first
        await box.locator("[role='combobox']").click()
        await page.locator("[role='option']").nth(1 + number % 8).click()  # the list shows ~10 at a time
        await idle(page)
        result["search_render_s"] = time.perf_counter() - start
        if await page.locator("[data-testid='stException']").count():
            result["errors"].append("exception box on the page")
        if await page.locator("[data-testid='stAlert']").filter(has_text=re.compile("went wrong|出错")).count():
            result["errors"].append("error message on the page")
    except Exception as exc:  # noqa: BLE001 — every failure is a finding of the load test
        result["errors"].append(f"{type(exc).__name__}: {exc}")
    finally:
        await context.close()
    return result


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


async def run(url: str, sessions: int, pages: list[str]) -> list[dict]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        results = await asyncio.gather(*[session(browser, url, pages[i % len(pages)], i) for i in range(sessions)])
        await browser.close()
    return list(results)


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--pages", default="two_tower,tdm,dr,nann")
    ap.add_argument("--data-dir", default=None, help="data root with trained models (default: $RECALL_LAB_DATA)")
    ap.add_argument("--out", default=str(ROOT / "test-output" / "load-test.json"))
    args = ap.parse_args(argv)
    root = Path(args.data_dir).resolve() if args.data_dir else data_root()
    peak = {"mb": 0.0}
    with streamlit_server(root) as (url, proc):
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak["mb"] = max(peak["mb"], rss_mb(proc.pid))
                time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        start = time.perf_counter()
        results = asyncio.run(run(url, args.sessions, args.pages.split(",")))
        wall = time.perf_counter() - start
        stop.set()
        sampler.join()
        log_path = root / f"streamlit-{url.rsplit(':', 1)[1]}.log"
    log = log_path.read_text() if log_path.exists() else ""
    loads = {m: len(re.findall(rf"\[recall-lab\] loaded {m} ", log)) for m in
             ("two_tower", "tdm", "dr", "nann", "nann_plain")}
    trains = len(re.findall(r"\[recall-lab\] trained ", log))
    first = [r["first_render_s"] for r in results if "first_render_s" in r]
    search = [r["search_render_s"] for r in results if "search_render_s" in r]
    summary = {
        "sessions": args.sessions, "pages": args.pages, "wall_seconds": wall,
        "errors": sum(len(r["errors"]) for r in results), "error_details": [r for r in results if r["errors"]],
        "first_render_p50_s": percentile(first, 0.5), "first_render_p95_s": percentile(first, 0.95),
        "search_render_p50_s": percentile(search, 0.5), "search_render_p95_s": percentile(search, 0.95),
        "server_peak_rss_mb": peak["mb"], "model_loads": loads, "models_trained_by_server": trains,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"summary": summary, "sessions": results}, indent=1))
    print(json.dumps(summary, indent=1))
    ok = summary["errors"] == 0 and trains == 0 and all(v <= 1 for v in loads.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
