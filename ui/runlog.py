"""How long each script run takes on the server, for the page-time and load benchmarks.

With ``RECALL_LAB_RUN_LOG=/path/runs.jsonl`` every script run appends one JSON line
``{"t": wall time at the end, "page": url path, "session": Streamlit session id, "seconds": duration,
"cpu_seconds": CPU time of the script thread, "outcome": "ok" | "stop" | "rerun" | "error:<type>"}``
(``seconds`` includes waiting for the CPU and the GIL behind other sessions; ``cpu_seconds`` does not).  ``rerun`` is a run cut short by a newer
one (a widget changed while it ran, or ``st.rerun``).  The file is opened with O_APPEND and each
line is one ``write``, so concurrent sessions never interleave lines; a log that cannot be written
is skipped silently: timing never breaks the app.

With ``RECALL_LAB_RUN_PROFILE=/some/dir`` each run is also profiled with cProfile (the script
thread only) and saved as ``<dir>/<page>-<session>-<n>.prof`` (``python -m pstats`` reads it).
"""
from __future__ import annotations

import itertools
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path

RUN_LOG_ENV = "RECALL_LAB_RUN_LOG"
RUN_PROFILE_ENV = "RECALL_LAB_RUN_PROFILE"
_counter = itertools.count()


def append_line(path: str | os.PathLike, record: dict) -> bool:
    """Append ``record`` as one JSON line in a single write; False (never an exception) on failure."""
    try:
        data = (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            return os.write(fd, data) == len(data)
        finally:
            os.close(fd)
    except Exception:  # noqa: BLE001 — a benchmark log must never take the app down
        return False


def _session_id() -> str | None:
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        ctx = get_script_run_ctx()
        return ctx.session_id if ctx is not None else None
    except Exception:  # noqa: BLE001
        return None


def _outcome(exc: BaseException | None) -> str:
    if exc is None:
        return "ok"
    name = type(exc).__name__
    if name == "StopException":
        return "stop"
    if name == "RerunException":
        return "rerun"
    return f"error:{name}"


def page_name(page) -> str:
    """The page's url path as declared in ``st.Page`` (Streamlit reports "" for the default page), else its title."""
    if page is None:
        return "?"
    return getattr(page, "url_path", "") or getattr(page, "_url_path", "") or getattr(page, "title", "") or "?"


class _Run:
    page = None  # set by the caller once st.navigation has chosen the page


@contextmanager
def timed_run(log_path: str | None = None, profile_dir: str | None = None):
    """Time the body (one script run); control-flow exceptions (st.stop, st.rerun) pass through untouched.

    Yields an object whose ``page`` attribute the body sets to the chosen ``st.Page``."""
    log_path = log_path if log_path is not None else os.environ.get(RUN_LOG_ENV)
    profile_dir = profile_dir if profile_dir is not None else os.environ.get(RUN_PROFILE_ENV)
    run = _Run()
    profiler = None
    if profile_dir:
        import cProfile

        profiler = cProfile.Profile()
        try:
            profiler.enable()
        except ValueError:  # another profiler is active in this thread
            profiler = None
    start, cpu_start = time.perf_counter(), time.thread_time()
    error: BaseException | None = None
    try:
        yield run
    except BaseException as exc:
        error = exc
        raise
    finally:
        seconds, cpu_seconds = time.perf_counter() - start, time.thread_time() - cpu_start
        session = _session_id()
        if profiler is not None:
            profiler.disable()
            try:
                Path(profile_dir).mkdir(parents=True, exist_ok=True)
                name = f"{page_name(run.page)}-{(session or 'none')[:8]}-{next(_counter)}.prof"
                profiler.dump_stats(str(Path(profile_dir) / name))
            except Exception:  # noqa: BLE001
                pass
        if log_path:
            append_line(log_path, {"t": time.time(), "page": page_name(run.page), "session": session,
                                   "seconds": round(seconds, 6), "cpu_seconds": round(cpu_seconds, 6),
                                   "outcome": _outcome(error)})


def read_runs(path: str | os.PathLike) -> list[dict]:
    """The run log's records (lines that do not parse are skipped)."""
    try:
        text = Path(path).read_text()
    except OSError:
        return []
    runs = []
    for line in text.splitlines():
        try:
            runs.append(json.loads(line))
        except ValueError:
            continue
    return runs
