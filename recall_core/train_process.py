"""Train one model in a child process: ``python -m recall_core.train_process DATASET METHOD [--threads N]``.

The background trainer (``recall_core.background``) runs each job through :func:`train_in_subprocess`, so
several models can train at once on a machine's cores, one torch thread pool per process, and the server that
asked keeps its memory and its interpreter lock to itself while they do. The child trains through
``methods.load_or_train`` (the artifact lock, the atomic save, the stored maps and evaluation rows: the same
files as training in-process) and reports on stdout, one JSON object per line: ``{"progress": [fraction,
message]}``, then ``{"done": true}`` or ``{"error": "Type: message"}``. Its log lines go to stderr. Where it can,
the child is forked from a warm zygote instead (``recall_core.train_zygote``: imports done once, the same job,
the same lines on a socket).

Why processes (issue 13 §1): the models' arithmetic is small-matrix work that two threads speed up by only
about 1.6x over one, and their searches are Python loops that one thread runs; two one-thread processes on two
cores train the six ml-100k models in less wall time than one two-thread process (``scripts/first_run.py``).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import traceback
from typing import Callable

from .paths import DATA_ENV, PROJECT_ROOT

WORKERS_ENV = "RECALL_LAB_TRAIN_WORKERS"


def cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def default_workers() -> int:
    """Models trained at once: ``RECALL_LAB_TRAIN_WORKERS`` if set (1-16), else 2 on a machine with 2 or more
    cores. More would split the cores further than the small models use them."""
    raw = os.environ.get(WORKERS_ENV, "").strip()
    if raw:
        try:
            return min(max(int(raw), 1), 16)
        except ValueError:
            raise ValueError(f"{WORKERS_ENV} must be a whole number of training processes, got {raw!r}") from None
    return 2 if cpu_count() >= 2 else 1


def threads_per_worker(workers: int) -> int:
    """torch threads for each of ``workers`` training processes: the machine's cores shared out."""
    return max(1, cpu_count() // max(1, workers))


class TrainingProcessError(RuntimeError):
    names_its_cause = True  # the message is the child's "Type: message" (the trainer's panel shows it as it is)


def train_in_subprocess(dataset: str, method: str, progress: Callable[[float, str], None] | None = None,
                        threads: int = 1, seed: int = 0, device: str = "auto", root=None, warm: bool = True) -> None:
    """Train (or find already trained) ``method`` on ``dataset`` in a child Python; returns when its artifact
    is saved under ``root`` (default: the data folder, ``RECALL_LAB_DATA``). The child is forked warm from the
    server's zygote (``recall_core.train_zygote``) where one can run (``warm``), else started fresh. Raises
    :class:`TrainingProcessError` with the child's error, or says how it ended if it died."""
    env = child_env(root)
    lines = None
    if warm:
        from .train_zygote import ZYGOTE

        lines = ZYGOTE.connect({"dataset": dataset, "method": method, "threads": threads, "seed": seed,
                                "device": device, "env": env})
    if lines is not None:
        with lines:
            error, done = _follow(lines, progress)
        ending = "ended before it finished (killed, or out of memory?)"
    else:
        cmd = [sys.executable, "-m", "recall_core.train_process", dataset, method, "--threads", str(threads),
               "--seed", str(seed), "--device", device]
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env, cwd=str(PROJECT_ROOT)) as child:
            error, done = _follow(child.stdout, progress)
            ending = f"exited with code {child.wait()}"
    if error:
        raise TrainingProcessError(error)
    if not done:
        raise TrainingProcessError(f"the training process for {method} on {dataset} {ending}")


def child_env(root=None) -> dict:
    """This process's environment for a training child (or the zygote): the project importable, and the data
    folder ``root`` if given."""
    env = dict(os.environ)
    if root is not None:
        env[DATA_ENV] = str(root)
    env["PYTHONPATH"] = os.pathsep.join([str(PROJECT_ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def _follow(lines, progress) -> tuple[str, bool]:
    """Read a training child's JSON lines to the end: (its error, whether it said it was done)."""
    error, done = "", False
    for line in lines:
        try:
            message = json.loads(line)
        except json.JSONDecodeError:  # a stray print from a library: pass it on to the log
            print(line, end="", file=sys.stderr)
            continue
        if "progress" in message and progress is not None:
            progress(float(message["progress"][0]), str(message["progress"][1]))
        error = message.get("error", error)
        done = done or bool(message.get("done"))
    return error, done


def _send(obj: dict, out) -> None:
    out.write(json.dumps(obj) + "\n")
    out.flush()


def run_job(dataset: str, method: str, threads: int, seed: int, device: str, out) -> int:
    """Train one model, reporting on ``out`` as JSON lines; the exit status (0: done)."""
    sys.stdout = sys.stderr  # anything the libraries print goes to the log, not into the protocol
    try:
        import torch

        torch.set_num_threads(max(1, threads))
        from .data import load_split
        from .methods import load_or_train

        load_or_train(load_split(dataset), method, seed, device,
                      progress=lambda fraction, message: _send({"progress": [fraction, message]}, out))
    except Exception as exc:  # noqa: BLE001 — reported to the parent, which marks the job failed
        traceback.print_exc()
        _send({"error": f"{type(exc).__name__}: {exc}"}, out)
        return 1
    _send({"done": True}, out)
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset")
    ap.add_argument("method")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)
    return run_job(args.dataset, args.method, args.threads, args.seed, args.device, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
