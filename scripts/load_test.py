"""A class at once (issue 13 §3): N student sessions follow a student's path (students.py) against one
`streamlit run app.py`, measured on the server.

    python scripts/load_test.py --sessions 30 [--client protocol|browser] [--think 2] [--no-warmup]
    python scripts/load_test.py --table bench/load/*.json          (a Markdown table of reports)

Two kinds of client:
  protocol (default)  each session speaks Streamlit's websocket protocol as a browser tab does
                      (protocol_client.py): it loads the static files, opens the page, sends every widget's
                      value with each rerun, reads each run to its end.  It draws nothing, so thirty of them
                      cost this machine little and the server all that thirty tabs would ask of it (Play is
                      the browser's own work and sends nothing; here it is time spent watching).
  browser             each session is a Chromium tab (a Playwright context; ``--browsers`` processes share
                      them), timed from an action to an idle page.  Truer to a student's screen, but on a
                      small machine the browsers use more CPU than the server.
The i-th session starts at the i-th page of ``--pages``; students arrive ``--stagger`` s apart.  Before the
class the teacher opens every page once (``--no-warmup`` to skip; those runs are not counted).

Measured on the server: every script run's duration from its run log (RECALL_LAB_RUN_LOG, ui/runlog.py),
p50 / p95 / p99; errors (exception boxes, error messages, failed steps, page failures in the server log, runs
that ended in an exception); the server's RSS and CPU sampled every 0.5 s with psutil; how many times each
model was loaded (at most once) or trained (never).  The clients are kept off the server's CPU: with two or
more CPUs the server is pinned to CPU 0 (``--server-cpus``) and this script (and every Chromium) to the others.
The client-side time of each action is reported too, and this process's CPU time.  Targets: 0 errors, p95 <= 2 s
per interaction, RSS <= 1.5 GB.  Needs trained models in the data root (python -m recall_core.train --method
all, or --train).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))
import serverbench as sb  # noqa: E402

from browser import CHROMIUM, CHROMIUM_ARGS, streamlit_server  # noqa: E402
from students import BrowserStudent, ProtocolStudent, follow_path, wait_idle  # noqa: E402

P95_TARGET_S, RSS_TARGET_MB = 2.0, 1536


async def _walk(number: int, path: list[dict], me, close) -> dict:
    """``me`` follows ``path``; any failure is recorded, ``close()`` always runs; the session's record."""
    try:
        await follow_path(me, path)
    except Exception as exc:  # noqa: BLE001
        me.failed.append(f"{type(exc).__name__}: {exc}")
    finally:
        await close()
    return {"session": number, "path": [p["slug"] for p in path], "steps": me.steps, "errors": me.errors,
            "failed_steps": me.failed}


async def browser_student(browser, number: int, base: str, path: list[dict], args) -> dict:
    await asyncio.sleep(args.stagger * number)  # students arrive a few seconds apart
    context = await browser.new_context(viewport={"width": 1300, "height": 1000})
    await context.add_init_script(sb.RUN_COUNTER_JS)
    page = await context.new_page()
    page.set_default_timeout(300_000)
    me = BrowserStudent(number, page, base, args.think, random.Random(args.seed * 1000 + number), args.skip_shots,
                        args.query)
    return await _walk(number, path, me, context.close)


async def protocol_student(number: int, base: str, path: list[dict], args, assets: list[str]) -> dict:
    await asyncio.sleep(args.stagger * number)
    me = ProtocolStudent(number, base, args.think, random.Random(args.seed * 1000 + number), assets, args.query)
    return await _walk(number, path, me, me.close)


async def teacher(browser, base: str, pages: list[dict], query: str) -> None:
    """Before the class: every page opened once (caches of the default views warm, models loaded)."""
    context = await browser.new_context(viewport={"width": 1300, "height": 1000})
    await context.add_init_script(sb.RUN_COUNTER_JS)
    page = await context.new_page()
    page.set_default_timeout(300_000)
    for p in pages:
        await page.goto(sb.page_url(base, p) + (f"?{query}" if query else ""))
        await wait_idle(page)
    await context.close()


def student_paths(pages: list[dict], sessions: int) -> list[list[dict]]:
    """The i-th student starts at the i-th page and goes on to the next two."""
    n = len(pages)
    return [[pages[(i + j) % n] for j in range(3)] for i in range(sessions)]


async def protocol_classroom(base: str, pages: list[dict], args) -> tuple[list[dict], float]:
    from protocol_client import Session, static_assets

    assets = static_assets(base)
    if args.warmup:  # the teacher opens every page once (not counted)
        teacher = Session(base)
        await teacher.open(ProtocolStudent.page_path(pages[0]), query=args.query)
        for p in pages[1:]:
            await teacher.go_to(ProtocolStudent.page_path(p))
        await teacher.close()
    class_start = time.time()
    results = await asyncio.gather(*[protocol_student(i, base, path, args, assets)
                                     for i, path in enumerate(student_paths(pages, args.sessions))])
    return list(results), class_start


async def classroom(base: str, pages: list[dict], args) -> tuple[list[dict], float]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browsers = [await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                    for _ in range(max(1, min(args.browsers, args.sessions)))]
        if args.warmup:
            await teacher(browsers[0], base, pages, args.query)
        class_start = time.time()
        results = await asyncio.gather(*[browser_student(browsers[i % len(browsers)], i, base, path, args)
                                         for i, path in enumerate(student_paths(pages, args.sessions))])
        for b in browsers:
            await b.close()
    return list(results), class_start


def table(paths: list[str]) -> str:
    """A Markdown table of load-test reports (``--table``): one row per report."""
    lines = ["| report | sessions | client | errors | server runs | per-run p50 / p95 / p99 / max s | script CPU p95 s "
             "| client p95 s | peak RSS MB | server CPU % | clients' CPU s | code |", "|" + "---|" * 12]
    for path in paths:
        report = json.loads(Path(path).read_text())
        s, runs = report["summary"], report["summary"]["server_runs"]
        client = s.get("client_action_to_finished") or s.get("browser_action_to_idle") or {}
        res = s["server_resources"]
        lines.append(
            f"| {path} | {s['sessions']} ({s.get('dataset', 'ml-100k')}) | {s.get('client', 'browser')} "
            f"| {s['errors']} | {runs['runs']} | {runs['p50_s']:.2f} / {runs['p95_s']:.2f} / {runs['p99_s']:.2f} / "
            f"{runs['max_s']:.2f} | {runs['cpu_p95_s']:.2f} | {client.get('p95_s', float('nan')):.2f} "
            f"| {res['peak_rss_mb']:.0f} | {res.get('class_server_cpu_mean_pct', float('nan')):.0f} "
            f"| {s.get('client_process_cpu_seconds', float('nan')):.1f} | {s['machine'].split('code: ')[-1]} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", nargs="+", metavar="REPORT", help="print a Markdown table of these reports and stop")
    ap.add_argument("--sessions", type=int, default=30)
    ap.add_argument("--client", choices=("protocol", "browser"), default="protocol",
                    help="protocol: Streamlit's websocket protocol without a browser; browser: Chromium tabs")
    ap.add_argument("--browsers", type=int, default=0, help="Chromium processes with --client browser "
                                                            "(default: one per 10 sessions)")
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
    if args.table:
        print(table(args.table))
        return 0
    args.browsers = (args.browsers or math.ceil(args.sessions / 10)) if args.client == "browser" else 0
    args.skip_shots = Path(args.out).parent / (Path(args.out).stem + "-skipped")
    # a dataset other than the app's default is opened through the app's deep link, as a teacher's link would
    args.query = "" if args.dataset == "ml-100k" else f"dataset={quote(args.dataset)}"

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
        start, client_cpu = time.perf_counter(), sb.own_cpu_seconds()
        run_class = protocol_classroom if args.client == "protocol" else classroom
        results, class_start = asyncio.run(run_class(url, pages, args))
        wall, client_cpu = time.perf_counter() - start, sb.own_cpu_seconds() - client_cpu
        resources = sampler.stop()
        class_samples = [s for s in sampler.samples if s["t"] >= class_start]
    log_text = log_file.read_text() if log_file.exists() else ""
    findings = sb.server_log_findings(log_text)
    runs = sb.read_runs(run_log)
    class_runs = [r for r in runs if r["t"] >= class_start]
    server = sb.run_stats(class_runs)
    by_page = {slug: sb.run_stats([r for r in class_runs if r["page"] == slug])
               for slug in sorted({r["page"] for r in class_runs})}
    timed = "browser_s" if args.client == "browser" else "client_s"
    client_times = [s[timed] for r in results for s in r["steps"] if timed in s and s["step"] != "play"]
    run_errors = sum(n for o, n in server["outcomes"].items() if o.startswith("error"))
    app_errors = sum(len(r["errors"]) for r in results) + findings["page_failures_logged"] + run_errors
    failed_steps = sum(len(r["failed_steps"]) for r in results)
    skipped = sum(1 for r in results for s in r["steps"] if "skipped" in s)
    errors = app_errors + failed_steps
    if class_samples:
        resources["class_server_cpu_mean_pct"] = round(sum(s["cpu"] for s in class_samples) / len(class_samples), 1)
    summary = {
        "sessions": args.sessions, "dataset": args.dataset, "client": args.client, "browsers": args.browsers,
        "pages": args.pages, "think_s": args.think,
        "stagger_s": args.stagger, "warmup": args.warmup, "machine": machine, "pinning": pin_note,
        "server_threads": args.threads, "notes": prep["notes"], "wall_seconds": round(wall, 1),
        "errors": errors, "app_errors": app_errors, "failed_steps": failed_steps, "skipped_steps": skipped,
        "server_runs_failed": run_errors,
        "error_details": [{k: r[k] for k in ("session", "path", "errors", "failed_steps")}
                          for r in results if r["errors"] or r["failed_steps"]][:20],
        "server_runs": server, "server_runs_by_page": by_page,
        "steps": sum(len(r["steps"]) for r in results),
        # browser: from an action to an idle page (the browsers' own work included); protocol: from sending the
        # message to the run's script_finished
        ("browser_action_to_idle" if args.client == "browser" else "client_action_to_finished"): {
            "n": len(client_times), "p50_s": round(sb.percentile(client_times, 50), 3),
            "p95_s": round(sb.percentile(client_times, 95), 3), "p99_s": round(sb.percentile(client_times, 99), 3)},
        # this process's CPU (with --client browser, Chromium's own processes are not in it)
        "client_process_cpu_seconds": round(client_cpu, 1),
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
