"""What the page-time benchmark and the classroom load test share: the app's pages, the models they need,
CPU pinning (server apart from the browsers), the server's run log, psutil sampling, percentiles."""
from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _p in (str(ROOT), str(ROOT / "tests")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from ui.runlog import RUN_LOG_ENV, read_runs  # noqa: E402,F401  (read_runs is re-exported for the scripts)

# The models a page needs to be live (home and compare show whichever models are trained; the NANN page's
# variant without adversarial training is one click away).
PAGE_MODELS = {"two_tower": ("two_tower",), "tdm": ("tdm",), "dr": ("dr",), "nann": ("nann", "nann_plain"),
               "sid": ("sid",)}


def registered_pages(app: Path = ROOT / "recall_lab.py") -> list[dict]:
    """Every ``st.Page`` in recall_lab.py, in order: {"slug", "file", "default"} (read from the source, so a page
    added later is measured too)."""
    pages = []
    for node in ast.walk(ast.parse(app.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "Page" and node.args \
                and isinstance(node.args[0], ast.Constant):
            kw = {k.arg: k.value for k in node.keywords}
            file = node.args[0].value
            slug = kw["url_path"].value if isinstance(kw.get("url_path"), ast.Constant) else Path(file).stem
            default = isinstance(kw.get("default"), ast.Constant) and bool(kw["default"].value)
            pages.append({"slug": slug, "file": file, "default": default, "line": node.lineno})
    return sorted(pages, key=lambda p: p["line"])


def page_url(base: str, page: dict) -> str:
    return base + "/" if page["default"] else f"{base}/{page['slug']}"


def cpu_plan(server_cpus: str | None = None) -> tuple[set[int] | None, set[int] | None, str]:
    """(server CPUs, client CPUs, a sentence saying what was done).  With >= 2 CPUs the server gets
    ``server_cpus`` (default: the first CPU) and this script, Playwright and Chromium get the rest."""
    available = sorted(os.sched_getaffinity(0))
    if server_cpus == "none" or len(available) < 2:
        return None, None, (f"no pinning: server and browsers share CPUs {available}"
                            + (" (only one CPU)" if len(available) < 2 else ""))
    if server_cpus:
        server = {int(c) for part in server_cpus.split(",") for c in _expand(part)}
    else:
        server = {available[0]}
    clients = set(available) - server
    if not clients or not server <= set(available):
        raise SystemExit(f"--server-cpus {server_cpus}: leaves no CPU for the browsers (available {available})")
    return server, clients, (f"server pinned to CPU(s) {sorted(server)}; this script, Playwright and every Chromium "
                             f"to CPU(s) {sorted(clients)} (os.sched_setaffinity; {len(available)} CPUs available)")


def _expand(part: str) -> list[int]:
    if "-" in part:
        lo, hi = part.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(part)]


def pin_clients(clients: set[int] | None) -> None:
    """Pin this process; Playwright's driver and the browsers it launches inherit it."""
    if clients:
        os.sched_setaffinity(0, clients)


def server_env(run_log: Path, threads: int = 1, profile_dir: Path | None = None) -> dict:
    env = {RUN_LOG_ENV: str(run_log), "RECALL_LAB_AUTOTRAIN": "0", "OMP_NUM_THREADS": str(threads),
           "MKL_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads),
           "NUMBA_NUM_THREADS": str(threads), "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
           # No source watching: an edit to a module during a run would make Streamlit drop modules from
           # sys.modules, and concurrent sessions then re-import them at once (seen: dataclass AttributeError).
           "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none"}
    if profile_dir is not None:
        env["RECALL_LAB_RUN_PROFILE"] = str(profile_dir)
    return env


def prepare_models(root: Path, dataset: str = "ml-100k", train: bool = False, pages: list[str] | None = None) -> dict:
    """Check that the models ``pages`` (default: all) need are trained and current (training the missing ones with
    ``train``), and that the stored UMAP maps exist (made now for models trained before maps were stored,
    as training does today).  Returns {"status": {method: status}, "notes": [...]}."""
    os.environ["RECALL_LAB_DATA"] = str(root)
    from recall_core.artifacts import artifact_path
    from recall_core.data import load_split
    from recall_core.methods import LEARNED, MAPS, artifact_status, load_or_train, map_path, prepare_maps, profile

    split = load_split(dataset, root=root)
    status = {m: artifact_status(split, m, 0, root=root) for m in LEARNED}
    notes = [f"training profile of the server: {profile()}"]
    missing = [m for m in LEARNED if status[m] != "ready"]
    if missing and train:
        for method in missing:
            subprocess.run([sys.executable, "-m", "recall_core.train", "--dataset", dataset, "--method", method,
                            "--if-missing", "--data-dir", str(root)], check=True, cwd=ROOT)
        status = {m: artifact_status(split, m, 0, root=root) for m in LEARNED}
        notes.append(f"trained before measuring: {', '.join(missing)}")
    needed = sorted({m for slug, methods in PAGE_MODELS.items() if pages is None or slug in pages for m in methods})
    absent = [m for m in needed if status[m] != "ready"]
    if absent:
        raise SystemExit(f"models not ready in {root}: {', '.join(f'{m} ({status[m]})' for m in absent)}. Train them "
                         f"first: python -m recall_core.train --dataset {dataset} --method all --if-missing "
                         f"--data-dir {root}   (or pass --train)")
    other = [m for m in LEARNED if status[m] != "ready"]
    if other:
        notes.append(f"not trained (the pages skip them): {', '.join(other)}")
    for method in MAPS:
        path = artifact_path(dataset, method, 0, root)
        if status[method] == "ready" and not map_path(path).exists():
            retriever = load_or_train(split, method, 0, "cpu", root=root, train_if_missing=False)
            start = time.perf_counter()
            prepare_maps(retriever, method, path)
            notes.append(f"{method}: stored UMAP map made before measuring ({time.perf_counter() - start:.0f} s; "
                         f"the model was trained before maps were stored with it)")
    return {"status": status, "notes": notes}


class Sampler(threading.Thread):
    """psutil every ``every`` seconds: the server's RSS (with any children) and CPU (100 = one core busy),
    and every CPU's utilisation (to show where the browsers ran)."""

    def __init__(self, pid: int, every: float = 0.5):
        super().__init__(daemon=True)
        self.pid, self.every, self.samples = pid, every, []
        self._halt = threading.Event()

    def run(self) -> None:
        import psutil

        proc = psutil.Process(self.pid)
        proc.cpu_percent(None)
        psutil.cpu_percent(None, percpu=True)
        while not self._halt.wait(self.every):
            try:
                procs = [proc] + proc.children(recursive=True)
                rss = sum(p.memory_info().rss for p in procs)
                cpu = proc.cpu_percent(None)
            except psutil.Error:
                break
            self.samples.append({"t": time.time(), "rss_mb": rss / 2**20, "cpu": cpu,
                                 "percpu": psutil.cpu_percent(None, percpu=True)})

    def stop(self) -> dict:
        self._halt.set()
        self.join()
        return self.summary()

    def summary(self) -> dict:
        if not self.samples:
            return {"samples": 0}
        cpu = [s["cpu"] for s in self.samples]
        percpu = list(zip(*[s["percpu"] for s in self.samples]))
        return {"samples": len(self.samples), "every_s": self.every,
                "peak_rss_mb": round(max(s["rss_mb"] for s in self.samples), 1),
                "final_rss_mb": round(self.samples[-1]["rss_mb"], 1),
                "server_cpu_mean_pct": round(sum(cpu) / len(cpu), 1),
                "server_cpu_p95_pct": round(percentile(cpu, 95), 1), "server_cpu_peak_pct": round(max(cpu), 1),
                "per_cpu_mean_pct": [round(sum(c) / len(c), 1) for c in percpu]}


def own_cpu_seconds() -> float:
    """CPU time of this process and all its threads (user + system)."""
    times = os.times()
    return times.user + times.system


def percentile(values, q: float) -> float:
    """Linear-interpolated percentile (q in 0..100), NaN for no values."""
    values = sorted(values)
    if not values:
        return float("nan")
    pos = (len(values) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def run_stats(runs: list[dict]) -> dict:
    """Per-rerun server times: count, outcomes, p50/p95/p99/max over the runs that completed (ok or st.stop)."""
    finished = [r for r in runs if r.get("outcome") in ("ok", "stop")]
    done = [r["seconds"] for r in finished]
    out = {"runs": len(runs), "outcomes": dict(Counter(r.get("outcome", "?") for r in runs))}
    if done:
        out.update({"p50_s": round(percentile(done, 50), 3), "p95_s": round(percentile(done, 95), 3),
                    "p99_s": round(percentile(done, 99), 3), "max_s": round(max(done), 3)})
    cpu = [r["cpu_seconds"] for r in finished if "cpu_seconds" in r]
    if cpu:  # the script thread's own CPU time: what the run costs without waiting behind anything
        out.update({"cpu_p50_s": round(percentile(cpu, 50), 3), "cpu_p95_s": round(percentile(cpu, 95), 3),
                    "cpu_p99_s": round(percentile(cpu, 99), 3)})
    return out


def server_log_findings(log_text: str) -> dict:
    """Model loads (per dataset and method) / trainings by the server and page failures, from the server's
    stdout/stderr."""
    loads = Counter(f"{dataset}/{method}" for method, dataset in
                    re.findall(r"\[recall-lab\] loaded (\w+) from \S*?([^/\s]+)/[^/\s]+\.pt", log_text))
    return {"model_loads": dict(loads), "models_trained_by_server": len(re.findall(r"\[recall-lab\] trained ", log_text)),
            "page_failures_logged": len(re.findall(r"page failure|page error", log_text)),
            "tracebacks_logged": log_text.count("Traceback (most recent call last)")}


# Injected into every page before Streamlit's own scripts: counts the app's transitions to "running",
# so that a wait after a click knows whether the rerun it caused has started (however short it was).
RUN_COUNTER_JS = """(() => { window.__rl = {runs: 0};
  new MutationObserver((changes) => { for (const c of changes)
      if (c.target.getAttribute('data-test-script-state') === 'running') window.__rl.runs += 1; })
    .observe(document, {subtree: true, attributes: true, attributeFilter: ['data-test-script-state']}); })();"""

# The page's state as the browser sees it.
PAGE_STATE_JS = """() => { const e = document.querySelector('[data-testid=stApp]');
  return {state: e ? e.getAttribute('data-test-script-state') : null,
          conn: e ? e.getAttribute('data-test-connection-state') : null,
          runs: window.__rl ? window.__rl.runs : 0,
          spinner: document.querySelectorAll('[data-testid=stSpinner]').length,
          heading: document.querySelectorAll('[data-testid=stMain] h1').length,
          exception: document.querySelectorAll('[data-testid=stException]').length}; }"""


def is_idle(s: dict) -> bool:
    """The script has finished, the socket is up, no spinner, and the page has drawn its title (or an
    exception box: the run is over, and the caller counts it as an error)."""
    return s["state"] == "notRunning" and s["conn"] == "CONNECTED" and not s["spinner"] and \
        (s["heading"] > 0 or s["exception"] > 0)


class QuietWindow:
    """Page states polled one after another -> the perf_counter time at which the page became idle, once it has
    stayed idle for ``quiet_s`` (shared by the sync page-times and the async load-test waits)."""

    def __init__(self, quiet_s: float):
        self.quiet_s, self.since = quiet_s, None

    def idle_since(self, state: dict) -> float | None:
        if not is_idle(state):
            self.since = None
            return None
        now = time.perf_counter()
        self.since = now if self.since is None else self.since
        return self.since if now - self.since >= self.quiet_s else None


def machine_note() -> str:
    load1, load5, _ = os.getloadavg()
    return f"{os.cpu_count()} CPUs, load average {load1:.2f} (1 min) / {load5:.2f} (5 min) at the start"


def code_version() -> str:
    """The commit measured, and whether the working tree's code differs from it (bench/ outputs not counted)."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)bench"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "code: not a git checkout"
    return f"code: commit {head}" + (f" with {len(dirty.splitlines())} modified files" if dirty else "")
