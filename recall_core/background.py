"""Training in the background, in teaching order, shared by every session.

The app asks for the models a dataset lacks; worker threads train them in the order of :data:`ORDER`
(two-tower first: it is the baseline every page compares with and the fastest; then DR, NANN, TDM and
the rest), so each page becomes usable as soon as its own model is ready instead of after all of them.
``workers`` jobs run at once (the app's train function runs each in its own process: ``train_process``);
a job starts only when every job before it in the queue has started. Status is plain data (:class:`Job`), so
any page can draw the one progress panel. Training goes through ``methods.load_or_train``, whose artifact lock
keeps two processes from training the same model twice.
"""
from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable

ORDER = ("two_tower", "dr", "nann", "tdm", "sid", "nann_plain")

TrainFn = Callable[[str, str, Callable[[float, str], None]], None]  # (dataset, method, progress) -> None


def teaching_order(methods) -> list[str]:
    """``methods`` sorted by :data:`ORDER` (unknown names last, in their given order)."""
    methods = list(dict.fromkeys(methods))
    rank = {m: i for i, m in enumerate(ORDER)}
    return sorted(methods, key=lambda m: (rank.get(m, len(ORDER)), methods.index(m)))


@dataclass
class Job:
    dataset: str
    method: str
    state: str = "queued"  # queued -> running -> done | failed
    fraction: float = 0.0
    message: str = ""
    error: str = ""
    started: float | None = None
    finished: float | None = None

    @property
    def seconds(self) -> float:
        if self.started is None:
            return 0.0
        return (self.finished or time.time()) - self.started


@dataclass
class BackgroundTrainer:
    train: TrainFn
    workers: int = 1  # jobs run at once
    jobs: list[Job] = field(default_factory=list)

    def __post_init__(self):
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers}")
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._active = 0  # worker threads started and not yet out of jobs (changed under the lock)

    def request(self, dataset: str, methods) -> list[Job]:
        """Queue the methods not already queued, running or done for ``dataset``; failed ones are retried."""
        with self._lock:
            known = {(j.dataset, j.method) for j in self.jobs if j.state != "failed"}
            self.jobs = [j for j in self.jobs if not (j.state == "failed" and j.dataset == dataset
                                                      and j.method in set(methods))]
            added = [Job(dataset, m) for m in teaching_order(methods) if (dataset, m) not in known]
            self.jobs.extend(added)
            rank = {m: i for i, m in enumerate(ORDER)}
            self.jobs.sort(key=lambda j: (j.state not in ("done", "failed"), j.state != "running",
                                          rank.get(j.method, len(ORDER))))  # stable: finished, running, queue
            queued = sum(j.state == "queued" for j in self.jobs)
            while self._active < self.workers and queued > 0:  # start idle workers for the queue
                self._active += 1
                queued -= 1
                threading.Thread(target=self._work, name=f"recall-lab-trainer-{self._active}", daemon=True).start()
            self._wake.notify_all()
            return added

    def status(self, dataset: str | None = None) -> list[Job]:
        with self._lock:
            return [Job(**vars(j)) for j in self.jobs if dataset is None or j.dataset == dataset]

    def busy(self, dataset: str | None = None) -> bool:
        return any(j.state in ("queued", "running") for j in self.status(dataset))

    def cancel_queued(self, dataset: str | None = None) -> int:
        """Drop the jobs not started yet (the running one finishes); returns how many were dropped."""
        with self._lock:
            before = len(self.jobs)
            self.jobs = [j for j in self.jobs if not (j.state == "queued" and dataset in (None, j.dataset))]
            self._wake.notify_all()
            return before - len(self.jobs)

    def wait(self, timeout: float = 60.0) -> bool:
        """Block until no job is queued or running (tests, scripts); False on timeout."""
        deadline = time.time() + timeout
        with self._lock:
            while any(j.state in ("queued", "running") for j in self.jobs):
                left = deadline - time.time()
                if left <= 0:
                    return False
                self._wake.wait(left)
        return True

    def _next(self) -> Job | None:
        """The first queued job, now running; None (and this worker retires) when nothing is queued."""
        with self._lock:
            job = next((j for j in self.jobs if j.state == "queued"), None)
            if job is not None:
                job.state, job.started = "running", time.time()
            else:
                self._active -= 1
            return job

    def _work(self) -> None:
        while (job := self._next()) is not None:
            def progress(fraction: float, message: str, job=job) -> None:
                job.fraction, job.message = min(max(float(fraction), 0.0), 1.0), str(message)

            try:
                self.train(job.dataset, job.method, progress)
                state, error = "done", ""
            except Exception as exc:  # noqa: BLE001 — a failed job is reported on the panel, never raised
                # an error that already names its cause (a training process's report) is shown as it is
                state, error = "failed", str(exc) if getattr(exc, "names_its_cause", False) else \
                    f"{type(exc).__name__}: {exc}"
                traceback.print_exc()
            with self._lock:
                job.state, job.error, job.finished = state, error, time.time()
                job.fraction = 1.0 if state == "done" else job.fraction
                self._wake.notify_all()
