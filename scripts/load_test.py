"""A class at once (issue 13 §3): N browser sessions follow a student's path against one `streamlit run app.py`,
measured on the server.

    python scripts/load_test.py --sessions 30 [--browsers 3] [--think 2] [--no-warmup]

Each session (a Playwright browser context; ``--browsers`` Chromium processes share them) follows a path over
three pages, the i-th session starting at the i-th page of ``--pages``:
  page A  open it, pick a test user, move a slider (one arrow key), press the animation's Play (if it has one)
  page B  go there from the sidebar, switch the language, move a slider, press Play
  page C  go there from the sidebar, pick another test user
with a pause of ``--think`` seconds (uniform 0.5x..1.5x) between actions; students arrive ``--stagger`` s apart.
Before the class the teacher opens every page once (``--no-warmup`` to skip; those runs are not counted).

Measured on the server: every script run's duration from its run log (RECALL_LAB_RUN_LOG, ui/runlog.py),
p50 / p95 / p99; errors (exception boxes, error messages, failed steps, page failures in the server log, runs
that ended in an exception); the server's RSS and CPU sampled every 0.5 s with psutil; how many times each
model was loaded (at most once) or trained (never).  The browsers are kept off the server's CPU: with two or
more CPUs the server is pinned to CPU 0 (``--server-cpus``) and this script, Playwright and every Chromium to
the others.  The browser-side time from an action to an idle page is reported too, but it includes the
browsers' own work on their CPUs.  Targets: 0 errors, p95 <= 2 s per interaction, RSS <= 1.5 GB.
Needs trained models in the data root (python -m recall_core.train --method all, or --train).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import serverbench as sb  # noqa: E402

from browser import CHROMIUM, CHROMIUM_ARGS, streamlit_server  # noqa: E402

P95_TARGET_S, RSS_TARGET_MB = 2.0, 1536
PICK_USER = re.compile("Pick a test user|选择一个测试用户")
LANGUAGE_LABEL = {"zh": "English", "en": "中文"}  # the radio option that switches away from the current language
PLAY = re.compile("Play|播放")
ERROR_TEXT = re.compile("went wrong|出错")
ANIMATED = {"tdm", "dr", "nann", "sid"}  # pages with a Plotly animation (Play / Pause)
SKIP_SHOTS: Path | None = None  # where a page without the expected control is photographed (set by main)


async def wait_idle(page, runs_before: int | None = None, timeout_s: float = 300, quiet_s: float = 1.0) -> float:
    """perf_counter time at which the page became idle (start of a ``quiet_s`` idle period); with
    ``runs_before``, first give the rerun an action caused up to 3 s to start."""
    deadline = time.perf_counter() + timeout_s
    if runs_before is not None:
        start = time.perf_counter()
        while time.perf_counter() - start < 3 and (await page.evaluate(sb.PAGE_STATE_JS))["runs"] <= runs_before:
            await asyncio.sleep(0.05)
    window = sb.QuietWindow(quiet_s)
    while time.perf_counter() < deadline:
        since = window.idle_since(await page.evaluate(sb.PAGE_STATE_JS))
        if since is not None:
            return since
        await asyncio.sleep(0.1)
    raise TimeoutError("the page did not become idle")


class Student:
    def __init__(self, number: int, page, base: str, path: list[dict], think: float, rng: random.Random):
        self.number, self.page, self.base, self.path, self.think, self.rng = number, page, base, path, think, rng
        self.steps: list[dict] = []
        self.errors: list[str] = []  # what the app showed: exception boxes, error messages
        self.failed: list[str] = []  # steps the browser could not complete (a timeout, a missing control)
        self.lang = "zh"

    async def pause(self) -> None:
        await asyncio.sleep(self.think * self.rng.uniform(0.5, 1.5))

    async def step(self, name: str, where: str, action, expect_run: bool = True) -> None:
        """Do ``action``, wait for the page to be idle again, and record the browser-side time."""
        record = {"step": name, "page": where, "t": time.time()}
        try:
            runs = (await self.page.evaluate(sb.PAGE_STATE_JS))["runs"]
            start = time.perf_counter()
            await action()
            idle_at = await wait_idle(self.page, runs if expect_run else None)
            record["browser_s"] = round(idle_at - start, 3)
            record["runs_seen"] = (await self.page.evaluate(sb.PAGE_STATE_JS))["runs"] - runs
            await self.check(name)
        except Exception as exc:  # noqa: BLE001 — every failure is a finding of the load test
            record["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            self.failed.append(f"{name} on {where}: {record['error']}")
        self.steps.append(record)

    async def check(self, name: str) -> None:
        if await self.page.locator("[data-testid='stException']").count():
            self.errors.append(f"{name}: exception box on the page")
        if await self.page.locator("[data-testid='stAlert']").filter(has_text=ERROR_TEXT).count():
            self.errors.append(f"{name}: error message on the page")

    # the actions --------------------------------------------------------------------------------------
    async def open(self, page: dict) -> None:
        await self.step("open", page["slug"], lambda: self.page.goto(sb.page_url(self.base, page)), expect_run=False)

    async def navigate(self, page: dict) -> None:
        link = self.page.locator(f"[data-testid='stSidebarNav'] a[href$='/{page['slug']}']").first
        if page["default"]:
            link = self.page.locator("[data-testid='stSidebarNav'] a").first
        await self.step("navigate", page["slug"], link.click)

    async def present(self, locator, name: str, where: str, timeout_s: float = 60) -> bool:
        """Wait for the control to be drawn; a page without it is recorded as a skipped step."""
        try:
            await locator.first.wait_for(state="attached", timeout=timeout_s * 1000)
            return True
        except Exception:  # noqa: BLE001
            self.steps.append({"step": name, "page": where, "t": time.time(), "skipped": "control not found"})
            if SKIP_SHOTS is not None and len(list(SKIP_SHOTS.glob("*.png"))) < 5:
                SKIP_SHOTS.mkdir(parents=True, exist_ok=True)
                await self.page.screenshot(path=str(SKIP_SHOTS / f"s{self.number}-{name}-{where}.png"))
            return False

    async def pick_user(self, where: str) -> None:
        boxes = self.page.locator("[data-testid='stMain'] [data-testid='stSelectbox']")
        if not await self.present(boxes, "pick_user", where):
            return
        users = boxes.filter(has_text=PICK_USER)
        box = users.first if await users.count() else boxes.first

        async def choose():  # open the list, move down a few users, Enter (the keyboard works wherever it opens)
            combobox = box.locator("[role='combobox']")
            await combobox.scroll_into_view_if_needed()
            await combobox.click()
            try:
                await self.page.locator("[role='option']").first.wait_for(timeout=5000)
            except Exception:  # noqa: BLE001 — the list did not open on the click
                await self.page.keyboard.press("ArrowDown")
            for _ in range(1 + self.rng.randrange(8)):
                await self.page.keyboard.press("ArrowDown")
            await self.page.keyboard.press("Enter")

        await self.step("pick_user", where, choose)

    async def move_slider(self, where: str) -> None:
        sliders = self.page.locator("[data-testid='stMain'] [data-testid='stSlider'] input[type='range']")
        if not await self.present(sliders, "slider", where):
            return
        slider = sliders.nth(self.rng.randrange(min(2, await sliders.count())))

        async def move():
            await slider.focus()
            await self.page.keyboard.press(self.rng.choice(["ArrowRight", "ArrowLeft"]))

        await self.step("slider", where, move)

    async def play(self, where: str) -> None:
        if where not in ANIMATED:
            return
        buttons = self.page.locator("g.updatemenu-button").filter(has_text=PLAY)
        if not await self.present(buttons, "play", where):
            return

        async def press():
            await buttons.first.click()

        await self.step("play", where, press, expect_run=False)  # Plotly animates in the browser
        await asyncio.sleep(3)  # the student watches a few frames

    async def switch_language(self, where: str) -> None:
        label = LANGUAGE_LABEL[self.lang]
        await self.step("language", where,
                        lambda: self.page.locator("[data-testid='stSidebar']").get_by_text(label, exact=True).click())
        self.lang = "en" if self.lang == "zh" else "zh"

    async def follow_path(self) -> None:
        a, b, c = self.path
        await self.open(a)
        for action in (lambda: self.pick_user(a["slug"]), lambda: self.move_slider(a["slug"]),
                       lambda: self.play(a["slug"]), lambda: self.navigate(b),
                       lambda: self.switch_language(b["slug"]), lambda: self.move_slider(b["slug"]),
                       lambda: self.play(b["slug"]), lambda: self.navigate(c), lambda: self.pick_user(c["slug"])):
            await self.pause()
            await action()


async def student(browser, number: int, base: str, path: list[dict], args) -> dict:
    await asyncio.sleep(args.stagger * number)  # students arrive a few seconds apart
    context = await browser.new_context(viewport={"width": 1300, "height": 1000})
    await context.add_init_script(sb.RUN_COUNTER_JS)
    page = await context.new_page()
    page.set_default_timeout(300_000)
    me = Student(number, page, base, path, args.think, random.Random(args.seed * 1000 + number))
    try:
        await me.follow_path()
    except Exception as exc:  # noqa: BLE001
        me.failed.append(f"{type(exc).__name__}: {exc}")
    finally:
        await context.close()
    return {"session": number, "path": [p["slug"] for p in path], "steps": me.steps, "errors": me.errors,
            "failed_steps": me.failed}


async def teacher(browser, base: str, pages: list[dict]) -> None:
    """Before the class: every page opened once (caches of the default views warm, models loaded)."""
    context = await browser.new_context(viewport={"width": 1300, "height": 1000})
    await context.add_init_script(sb.RUN_COUNTER_JS)
    page = await context.new_page()
    page.set_default_timeout(300_000)
    for p in pages:
        await page.goto(sb.page_url(base, p))
        await wait_idle(page)
    await context.close()


async def classroom(base: str, pages: list[dict], args) -> tuple[list[dict], float]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browsers = [await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                    for _ in range(max(1, min(args.browsers, args.sessions)))]
        if args.warmup:
            await teacher(browsers[0], base, pages)
        class_start = time.time()
        n = len(pages)
        results = await asyncio.gather(*[
            student(browsers[i % len(browsers)], i, base, [pages[(i + j) % n] for j in range(3)], args)
            for i in range(args.sessions)])
        for b in browsers:
            await b.close()
    return list(results), class_start


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=30)
    ap.add_argument("--browsers", type=int, default=0, help="Chromium processes (default: one per 10 sessions)")
    ap.add_argument("--pages", default="tdm,dr,nann,sid,two_tower,compare", help="pages the paths cycle through")
    ap.add_argument("--think", type=float, default=2.0, help="mean pause between a student's actions, seconds")
    ap.add_argument("--stagger", type=float, default=0.5, help="seconds between two students' arrivals")
    ap.add_argument("--no-warmup", dest="warmup", action="store_false", help="no teacher visit before the class")
    ap.add_argument("--server-cpus", default=None, help="CPUs for the server, e.g. 0 or 0-1; 'none': no pinning")
    ap.add_argument("--threads", type=int, default=1, help="OMP/MKL threads of the server")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", default=None, help="data root with trained models (default: $RECALL_LAB_DATA)")
    ap.add_argument("--dataset", default="ml-100k")
    ap.add_argument("--train", action="store_true", help="train missing models first")
    ap.add_argument("--out", default=str(sb.ROOT / "test-output" / "load-test.json"))
    args = ap.parse_args(argv)
    args.browsers = args.browsers or math.ceil(args.sessions / 10)
    global SKIP_SHOTS
    SKIP_SHOTS = Path(args.out).parent / (Path(args.out).stem + "-skipped")

    from recall_core.paths import data_root

    root = Path(args.data_dir).resolve() if args.data_dir else data_root()
    machine = f"{sb.machine_note()}; {sb.code_version()}"
    registered = {p["slug"]: p for p in sb.registered_pages()}
    pages = [registered[s] for s in args.pages.split(",")]
    prep = sb.prepare_models(root, args.dataset, args.train, [p["slug"] for p in pages])
    server_cpus, client_cpus, pin_note = sb.cpu_plan(args.server_cpus)
    sb.pin_clients(client_cpus)
    run_log = Path(tempfile.mkdtemp(prefix="load-test-")) / "runs.jsonl"
    with streamlit_server(root, sb.server_env(run_log, args.threads), cpus=server_cpus) as (url, proc):
        log_file = root / f"streamlit-{url.rsplit(':', 1)[1]}.log"
        sampler = sb.Sampler(proc.pid, 0.5)
        sampler.start()
        start = time.perf_counter()
        results, class_start = asyncio.run(classroom(url, pages, args))
        wall = time.perf_counter() - start
        resources = sampler.stop()
        class_samples = [s for s in sampler.samples if s["t"] >= class_start]
    log_text = log_file.read_text() if log_file.exists() else ""
    findings = sb.server_log_findings(log_text)
    runs = sb.read_runs(run_log)
    class_runs = [r for r in runs if r["t"] >= class_start]
    server = sb.run_stats(class_runs)
    by_page = {slug: sb.run_stats([r for r in class_runs if r["page"] == slug])
               for slug in sorted({r["page"] for r in class_runs})}
    browser_times = [s["browser_s"] for r in results for s in r["steps"] if "browser_s" in s and s["step"] != "play"]
    run_errors = sum(n for o, n in server["outcomes"].items() if o.startswith("error"))
    app_errors = sum(len(r["errors"]) for r in results) + findings["page_failures_logged"] + run_errors
    failed_steps = sum(len(r["failed_steps"]) for r in results)
    skipped = sum(1 for r in results for s in r["steps"] if "skipped" in s)
    errors = app_errors + failed_steps
    if class_samples:
        resources["class_server_cpu_mean_pct"] = round(sum(s["cpu"] for s in class_samples) / len(class_samples), 1)
    summary = {
        "sessions": args.sessions, "browsers": args.browsers, "pages": args.pages, "think_s": args.think,
        "stagger_s": args.stagger, "warmup": args.warmup, "machine": machine, "pinning": pin_note,
        "server_threads": args.threads, "notes": prep["notes"], "wall_seconds": round(wall, 1),
        "errors": errors, "app_errors": app_errors, "failed_steps": failed_steps, "skipped_steps": skipped,
        "server_runs_failed": run_errors,
        "error_details": [{k: r[k] for k in ("session", "path", "errors", "failed_steps")}
                          for r in results if r["errors"] or r["failed_steps"]][:20],
        "server_runs": server, "server_runs_by_page": by_page,
        "steps": sum(len(r["steps"]) for r in results),
        "browser_action_to_idle": {"n": len(browser_times), "p50_s": round(sb.percentile(browser_times, 50), 3),
                                   "p95_s": round(sb.percentile(browser_times, 95), 3),
                                   "p99_s": round(sb.percentile(browser_times, 99), 3)},
        "server_resources": resources, **findings,
    }
    p95 = server.get("p95_s", float("nan"))
    verdict = [f"errors: {errors} (target 0): {app_errors} shown or logged by the app, {failed_steps} steps the "
               f"browser could not complete; {skipped} steps skipped (control not drawn within 60 s)",
               f"server per-rerun p95: {p95:.2f} s (target <= {P95_TARGET_S:g} s): "
               + ("met" if p95 <= P95_TARGET_S else "MISSED")
               + f" (the script thread's own CPU time: p95 {server.get('cpu_p95_s', float('nan')):.2f} s)",
               f"server peak RSS: {resources.get('peak_rss_mb', float('nan')):.0f} MB (target <= {RSS_TARGET_MB} MB): "
               + ("met" if resources.get("peak_rss_mb", 1e9) <= RSS_TARGET_MB else "MISSED")]
    summary["verdict"] = verdict
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"summary": summary, "sessions": results, "runs": runs,
                                          "resource_samples": sampler.samples}, indent=1))
    print(json.dumps({k: v for k, v in summary.items() if k != "error_details"}, indent=1, ensure_ascii=False))
    if summary["error_details"]:
        print("first errors:", json.dumps([e for r in summary["error_details"] for e in r["errors"] + r["failed_steps"]]
                                          [:10], ensure_ascii=False, indent=1))
    print("\n".join(verdict))
    print(f"written: {args.out}")
    loads = findings["model_loads"]
    ok = errors == 0 and findings["models_trained_by_server"] == 0 and all(v <= 1 for v in loads.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
