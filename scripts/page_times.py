"""Page times (issue 13 §2): for every page, the server's script-run time and the browser's time to an idle
page, for the first visitor of a fresh server and for later (cached) visitors.  A benchmark, not a test.

    python scripts/page_times.py [--data-dir DIR] [--repeats 3] [--profile]

For each page registered in recall_lab.py: a fresh `streamlit run app.py` (RECALL_LAB_AUTOTRAIN=0, OMP_NUM_THREADS=1,
RECALL_LAB_RUN_LOG set, pinned to its own CPU when there are two or more), then
  first   one Chromium session opens the page: time from navigation to idle (script finished, socket up, no
          spinner, the page's title drawn) and the server's script-run time(s) of that visit from the run log;
  cached  ``--repeats`` new sessions (new browser contexts: nothing cached in the browser) open the same page
          one after another: the same two figures (median and worst are printed).
``--before-first`` says when the first visitor comes: ``now`` (default: as soon as the server answers, while its
start-up warm-up may still run), ``settle`` (once the server's CPU is quiet: a server started before the lesson,
app.py's start-up done) or ``home`` (a teacher opens Home first, then the server is left until quiet).
Targets (issue 13): cached server run <= 1 s, first visit <= 3 s to idle.  Needs trained models in the data
root (python -m recall_core.train --method all); with --train the missing ones are trained first.
Writes JSON (default test-output/page-times.json).
"""
from __future__ import annotations

import argparse
import json
import pstats
import shutil
import sys
import tempfile
import time
from io import StringIO
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import serverbench as sb  # noqa: E402

from browser import CHROMIUM, CHROMIUM_ARGS, streamlit_server  # noqa: E402

CACHED_TARGET_S, FIRST_TARGET_S = 1.0, 3.0


def wait_idle(page, runs_before: int | None = None, timeout_s: float = 180, quiet_s: float = 1.0) -> float:
    """perf_counter time at which the page became idle (the start of a ``quiet_s`` idle period).
    With ``runs_before``, first wait (up to 3 s) for a run to start after that count."""
    deadline = time.perf_counter() + timeout_s
    if runs_before is not None:
        start = time.perf_counter()
        while time.perf_counter() - start < 3 and page.evaluate(sb.PAGE_STATE_JS)["runs"] <= runs_before:
            time.sleep(0.02)
    window = sb.QuietWindow(quiet_s)
    while time.perf_counter() < deadline:
        since = window.idle_since(page.evaluate(sb.PAGE_STATE_JS))
        if since is not None:
            return since
        time.sleep(0.03)
    raise TimeoutError("the page did not become idle")


def visit(browser, url: str, run_log: Path) -> dict:
    """One new visitor: a new browser context opens ``url``."""
    before = len(sb.read_runs(run_log))
    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    context.add_init_script(sb.RUN_COUNTER_JS)
    page = context.new_page()
    try:
        start = time.perf_counter()
        page.goto(url)
        idle_at = wait_idle(page)
        errors = page.locator("[data-testid='stException']").count() + page.locator(
            "[data-testid='stAlert']").filter(has_text="went wrong").count()
    finally:
        context.close()
    time.sleep(0.2)
    runs = sb.read_runs(run_log)[before:]
    return {"browser_s": round(idle_at - start, 3), "server_s": round(sum(r["seconds"] for r in runs), 3),
            "server_runs": [(r["page"], round(r["seconds"], 3), r["outcome"]) for r in runs], "errors": errors}


def wait_server_quiet(pid: int, timeout_s: float = 180, below: float = 5.0, window_s: float = 2.0) -> float:
    """Seconds until the server process (all its threads) used under ``below`` % of a CPU for ``window_s``."""
    import psutil

    proc, start = psutil.Process(pid), time.perf_counter()
    while time.perf_counter() - start < timeout_s:
        if proc.cpu_percent(interval=window_s) < below:
            return time.perf_counter() - start
    return time.perf_counter() - start


def median(values):
    return sb.percentile(values, 50)


def top_functions(prof: Path, n: int = 25) -> str:
    out = StringIO()
    pstats.Stats(str(prof), stream=out).strip_dirs().sort_stats("cumulative").print_stats(n)
    return out.getvalue()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None, help="data root with trained models (default: $RECALL_LAB_DATA or ./data)")
    ap.add_argument("--dataset", default="ml-100k")
    ap.add_argument("--pages", default=None, help="comma-separated url paths (default: every page in recall_lab.py)")
    ap.add_argument("--repeats", type=int, default=3, help="cached visits per page")
    ap.add_argument("--server-cpus", default=None, help="CPUs for the server, e.g. 0 or 0-1; 'none': no pinning")
    ap.add_argument("--threads", type=int, default=1, help="OMP/MKL threads of the server")
    ap.add_argument("--train", action="store_true", help="train missing models first")
    ap.add_argument("--before-first", choices=("now", "settle", "home"), default="now",
                    help="when the measured first visitor comes (see the module's docstring)")
    ap.add_argument("--profile", action="store_true",
                    help="cProfile every script run (slower; prints the top functions of each page's slowest runs)")
    ap.add_argument("--out", default=str(sb.ROOT / "test-output" / "page-times.json"))
    args = ap.parse_args(argv)

    from recall_core.paths import data_root

    root = Path(args.data_dir).resolve() if args.data_dir else data_root()
    machine = f"{sb.machine_note()}; {sb.code_version()}"
    pages = sb.registered_pages()
    if args.pages:
        wanted = args.pages.split(",")
        pages = [p for p in pages if p["slug"] in wanted]
    prep = sb.prepare_models(root, args.dataset, args.train, [p["slug"] for p in pages])
    server_cpus, client_cpus, pin_note = sb.cpu_plan(args.server_cpus)
    sb.pin_clients(client_cpus)
    work = Path(tempfile.mkdtemp(prefix="page-times-"))
    profiles = Path(args.out).parent / "page-profiles"
    if args.profile:
        shutil.rmtree(profiles, ignore_errors=True)
    results = []
    from urllib.parse import quote

    from playwright.sync_api import sync_playwright

    def link(address: str) -> str:  # the page on --dataset: the app's ?dataset= deep link
        return f"{address}?dataset={quote(args.dataset)}"

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for page in pages:
            run_log = work / f"runs-{page['slug']}.jsonl"
            prof_dir = profiles / page["slug"] if args.profile else None
            env = sb.server_env(run_log, args.threads, prof_dir)
            with streamlit_server(root, env, cpus=server_cpus) as (url, proc):
                log_file = root / f"streamlit-{url.rsplit(':', 1)[1]}.log"
                teacher = None
                if args.before_first == "home":
                    teacher = visit(browser, link(url), run_log)
                if args.before_first != "now":
                    settled = wait_server_quiet(proc.pid)
                    teacher = {**(teacher or {}), "quiet_after_s": round(settled, 1)}
                first = visit(browser, link(sb.page_url(url, page)), run_log)
                cached = [visit(browser, link(sb.page_url(url, page)), run_log) for _ in range(args.repeats)]
            findings = sb.server_log_findings(log_file.read_text() if log_file.exists() else "")
            log_file.unlink(missing_ok=True)
            row = {"page": page["slug"], "first": first, "cached": cached,
                   "before_first": {"mode": args.before_first, **(teacher or {})},
                   "cached_server_median_s": round(median([c["server_s"] for c in cached]), 3),
                   "cached_server_max_s": round(max(c["server_s"] for c in cached), 3),
                   "cached_browser_median_s": round(median([c["browser_s"] for c in cached]), 3),
                   "cached_browser_max_s": round(max(c["browser_s"] for c in cached), 3),
                   "errors": first["errors"] + sum(c["errors"] for c in cached) + findings["page_failures_logged"],
                   **findings}
            results.append(row)
            print(f"  {page['slug']}: first {first['server_s']:.2f} s server / {first['browser_s']:.2f} s browser, "
                  f"cached {row['cached_server_median_s']:.2f} s / {row['cached_browser_median_s']:.2f} s",
                  file=sys.stderr)
        browser.close()

    lines = [f"Page times — {args.dataset}, data root {root}",
             f"machine: {machine}; {pin_note}; server OMP_NUM_THREADS={args.threads}, RECALL_LAB_AUTOTRAIN=0"
             + {"now": "; first visit = the fresh server's very first request",
                "settle": "; first visit once the fresh server's start-up is done (CPU quiet)",
                "home": "; first visit after a teacher's Home visit and a quiet server"}[args.before_first]
             + ("; cProfile ON (times inflated)" if args.profile else ""),
             *[f"note: {n}" for n in prep["notes"]],
             "first = first visitor of a fresh server; cached = a later new visitor (median of "
             f"{args.repeats}, worst in brackets). server = script-run time(s) of the visit (run log); "
             "browser = navigation to idle page (script done, title drawn, no spinner).",
             "",
             "| page | first: server s | first: browser s | cached: server s | cached: browser s | errors |",
             "|---|---|---|---|---|---|"]
    for r in results:
        f = r["first"]
        lines.append(f"| {r['page']} | {f['server_s']:.2f} ({len(f['server_runs'])} run) | {f['browser_s']:.2f} | "
                     f"{r['cached_server_median_s']:.2f} [{r['cached_server_max_s']:.2f}] | "
                     f"{r['cached_browser_median_s']:.2f} [{r['cached_browser_max_s']:.2f}] | {r['errors']} |")
    miss_cached = [r["page"] for r in results if r["cached_server_max_s"] > CACHED_TARGET_S]
    miss_first = [r["page"] for r in results if r["first"]["browser_s"] > FIRST_TARGET_S]
    lines += ["", f"cached server run <= {CACHED_TARGET_S:g} s: "
              + ("met on every page" if not miss_cached else "MISSED on " + ", ".join(miss_cached)),
              f"first visit <= {FIRST_TARGET_S:g} s to idle: "
              + ("met on every page" if not miss_first else "MISSED on " + ", ".join(miss_first))]
    text = "\n".join(lines)
    print(text)
    if args.profile:
        for r in results:
            for label, prefix in (("first visit", 0), ("cached visit", 1)):
                files = sorted((profiles / r["page"]).glob("*.prof"), key=lambda f: int(f.stem.rsplit("-", 1)[1]))
                if len(files) > prefix:
                    print(f"\n--- {r['page']}, {label}: {files[prefix]} ---\n{top_functions(files[prefix])}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"machine": machine, "pinning": pin_note, "notes": prep["notes"],
                                          "model_status": prep["status"], "threads": args.threads,
                                          "profiled": args.profile, "pages": results, "table": text}, indent=1))
    print(f"\nwritten: {args.out}")
    return 0 if all(r["errors"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
