"""A warm parent for the training processes: ``python -m recall_core.train_zygote SOCKET``.

Every model trains in a process of its own (``recall_core.train_process``). A fresh Python spends about 3.5 s of
one core importing torch (``torch.optim`` pulls in ``torch._dynamo``), the models' code and umap before it trains
anything: on two cores shared by six training processes, time the lesson waits for (issue 13 §1). The zygote
(the cell every other one is copied from, as Android starts its apps) imports all that once, then listens on a
Unix socket and forks one child per request; the child starts warm and runs the same job as a fresh training
process (:func:`recall_core.train_process.run_job`, the same JSON lines), on the connection it was forked for.

Forking is safe here because the zygote never runs torch arithmetic (so torch's OpenMP pool does not exist yet),
never touches CUDA and starts no Python thread; the native threads that imports start (OpenBLAS's pool,
jemalloc's background thread) are made fork-safe by those libraries' own fork handlers. Each child sets its
thread count. The zygote exits when its parent closes its stdin (the parent ended), on SIGTERM or Ctrl-C, or
after a minute with nothing to do (its memory goes back to the classroom server; the next job starts a new one),
and its children are reaped as they finish.
"""
from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from .paths import PROJECT_ROOT

READY = "ready"
START_TIMEOUT_S = 120.0
IDLE_EXIT_S = 60.0  # no request and no child for this long: the zygote exits (and is started again when needed)
IDLE_ENV = "RECALL_LAB_ZYGOTE_IDLE_S"  # another idle time (tests)


def warm_imports() -> None:
    """What every training process would otherwise import for itself."""
    import torch  # noqa: F401
    import torch._dynamo  # noqa: F401 -- torch.optim imports it on the first optimiser (about 2 s)
    import torch.optim  # noqa: F401

    from . import data, dr, methods, nann, protocol, sid, tdm, tuning, two_tower  # noqa: F401
    from .projection import _umap

    _umap()


def serve(path: str, control=sys.stdin, idle_exit_s: float = IDLE_EXIT_S) -> None:
    """Listen on ``path`` and fork a training child per connection, until ``control`` reaches end of file (the
    parent is gone) or ``idle_exit_s`` pass with no request and no child alive (the queue is done: the memory
    goes back; the parent starts a new zygote for a later job)."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    for stop in (signal.SIGTERM, signal.SIGINT):  # stopped with the server's process group: clean up, quietly
        signal.signal(stop, _exit_quietly)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    children: set[int] = set()
    try:
        listener.bind(path)
        listener.listen(16)
        try:
            print(READY, flush=True)
        except OSError:
            return  # the parent went away while this process was importing
        os.dup2(2, 1)  # from now on the pipe to the parent is only for READY: a child's stray prints go to the log
        while True:
            readable, _, _ = select.select([listener, control], [], [], idle_exit_s)
            if control in readable and not os.read(control.fileno(), 1024):
                break  # the parent is gone
            if listener in readable:
                connection, _ = listener.accept()
                pid = os.fork()
                if pid == 0:  # the child: never returns into this loop, whatever happens
                    code = 1
                    try:
                        listener.close()
                        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                        signal.signal(signal.SIGTERM, signal.SIG_DFL)
                        signal.signal(signal.SIGINT, signal.default_int_handler)
                        code = _child(connection)
                    finally:
                        os._exit(code)
                connection.close()
                children.add(pid)
            elif not readable:
                children = {pid for pid in children if _alive(pid)}
                if not children:
                    break
    finally:
        listener.close()
        Path(path).unlink(missing_ok=True)
        try:
            Path(path).parent.rmdir()  # the folder the parent made for the socket, if nothing else is in it
        except OSError:
            pass


def _exit_quietly(signum, frame) -> None:
    raise SystemExit(0)  # unwinds through serve's cleanup


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _child(connection: socket.socket) -> int:
    from .train_process import run_job

    with connection, connection.makefile("r", encoding="utf-8") as reader, \
            connection.makefile("w", encoding="utf-8") as writer:
        try:
            request = json.loads(reader.readline())
            os.environ.clear()
            os.environ.update(request["env"])
            return run_job(request["dataset"], request["method"], int(request["threads"]), int(request["seed"]),
                           str(request["device"]), writer)
        except Exception as exc:  # noqa: BLE001 -- a malformed request: said on the connection, if it is open
            try:
                writer.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
            except OSError:
                pass  # the parent is gone
            return 1
        finally:
            sys.stderr.flush()


class Zygote:
    """The server's handle on its zygote: started once (lazily, or early by ``ui.startup``), then asked for a
    connection per job. :meth:`connect` returns None when no zygote can run here, and the caller starts a fresh
    Python instead (``train_process.train_in_subprocess``)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._path: str | None = None
        self._failed = False

    def start(self) -> bool:
        """Start the zygote if it is not running; True once it is ready to fork."""
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                return True
            self._stop_locked()  # one that exited (idle) leaves its folder
            if self._failed or not hasattr(os, "fork") or not hasattr(socket, "AF_UNIX"):
                return False
            try:
                self._path = str(Path(tempfile.mkdtemp(prefix="recall-lab-train-")) / "zygote.sock")
                from .train_process import child_env

                env = child_env()
                self._process = subprocess.Popen([sys.executable, "-m", "recall_core.train_zygote", self._path],
                                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                                 cwd=str(PROJECT_ROOT))
                line = _read_line(self._process.stdout, START_TIMEOUT_S)
                if line.strip() != READY:
                    raise RuntimeError(f"the training zygote did not start ({line.strip() or 'no answer'})")
                return True
            except Exception as exc:  # noqa: BLE001 -- a slower fallback exists
                print(f"[recall-lab] training processes start cold: {exc}", file=sys.stderr)
                self._failed = True
                self._stop_locked()
                return False

    def connect(self, request: dict):
        """A connection to a new warm child running ``request`` (read its JSON lines from the returned file), or
        None when no zygote runs here."""
        for _ in range(2):  # a second try: the zygote may have been exiting idle just as this job came
            if not self.start():
                return None
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                client.connect(self._path)
                client.sendall((json.dumps(request) + "\n").encode("utf-8"))
                client.shutdown(socket.SHUT_WR)
                return client.makefile("r", encoding="utf-8")
            except OSError:
                self.stop()
            finally:
                client.close()  # the file keeps the connection open until it is closed
        return None

    def stop(self) -> None:
        with self._lock:
            self._stop_locked()

    def _stop_locked(self) -> None:
        if self._process is not None:
            try:
                self._process.stdin.close()
                self._process.wait(10)
            except Exception:  # noqa: BLE001
                self._process.kill()
            self._process = None
        if self._path is not None:
            shutil.rmtree(Path(self._path).parent, ignore_errors=True)
            self._path = None


def _read_line(stream, timeout: float) -> str:
    readable, _, _ = select.select([stream], [], [], timeout)
    return stream.readline() if readable else ""


ZYGOTE = Zygote()


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    try:
        idle = float(os.environ.get(IDLE_ENV, IDLE_EXIT_S))
    except ValueError:
        idle = IDLE_EXIT_S
    warm_imports()
    serve(args[0], idle_exit_s=max(idle, 0.1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
