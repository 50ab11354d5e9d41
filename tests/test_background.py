"""The background trainer: teaching order, one job (or ``workers`` jobs) at a time, failures reported, no double
training; the training processes the app runs each job in."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from recall_core.background import BackgroundTrainer, teaching_order


def test_teaching_order_puts_the_two_tower_first():
    assert teaching_order(["tdm", "nann", "two_tower", "dr", "nann_plain"]) == ["two_tower", "dr", "nann", "tdm",
                                                                                "nann_plain"]
    assert teaching_order(["zzz", "tdm", "two_tower"]) == ["two_tower", "tdm", "zzz"]


def test_jobs_run_one_at_a_time_in_order_and_report_progress():
    ran, running, overlap = [], [0], []

    def train(dataset, method, progress):
        running[0] += 1
        overlap.append(running[0])
        progress(0.5, "half")
        time.sleep(0.02)
        ran.append((dataset, method))
        running[0] -= 1

    trainer = BackgroundTrainer(train)
    trainer.request("ml-100k", ["tdm", "two_tower", "dr"])
    assert trainer.wait(10)
    assert ran == [("ml-100k", "two_tower"), ("ml-100k", "dr"), ("ml-100k", "tdm")]
    assert max(overlap) == 1
    assert all(j.state == "done" and j.fraction == 1.0 and j.seconds > 0 for j in trainer.status("ml-100k"))


def test_requests_while_running_do_not_queue_twice():
    gate = threading.Event()
    calls = []

    def train(dataset, method, progress):
        calls.append(method)
        gate.wait(5)

    trainer = BackgroundTrainer(train)
    trainer.request("d", ["two_tower", "tdm"])
    time.sleep(0.05)
    assert [j.state for j in trainer.status("d")] == ["running", "queued"]
    assert trainer.request("d", ["two_tower", "tdm", "dr"])[0].method == "dr"  # only the new one is added
    assert trainer.busy("d")
    gate.set()
    assert trainer.wait(10)
    assert calls == ["two_tower", "dr", "tdm"]  # dr joined the queue before tdm in teaching order
    assert not trainer.busy("d")


def test_a_failure_is_reported_and_the_rest_still_train():
    def train(dataset, method, progress):
        if method == "dr":
            raise ValueError("corrupt artifact")

    trainer = BackgroundTrainer(train)
    trainer.request("d", ["two_tower", "dr", "tdm"])
    assert trainer.wait(10)
    states = {j.method: (j.state, j.error) for j in trainer.status("d")}
    assert states["dr"] == ("failed", "ValueError: corrupt artifact")
    assert states["two_tower"][0] == states["tdm"][0] == "done"
    trainer.request("d", ["dr"])  # asking again retries a failed job
    assert trainer.wait(10)
    assert [j.state for j in trainer.status("d") if j.method == "dr"] == ["failed"]


def test_two_workers_run_two_jobs_at_once_and_start_them_in_teaching_order():
    running, overlap, lock = [0], [], threading.Lock()

    def train(dataset, method, progress):
        with lock:
            running[0] += 1
            overlap.append(running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1

    trainer = BackgroundTrainer(train, workers=2)
    trainer.request("d", ["tdm", "nann", "two_tower", "dr", "sid"])
    time.sleep(0.02)
    assert sorted(j.method for j in trainer.status("d") if j.state == "running") == ["dr", "two_tower"]
    assert trainer.wait(10)
    jobs = sorted(trainer.status("d"), key=lambda j: j.started)
    assert [j.method for j in jobs] == ["two_tower", "dr", "nann", "tdm", "sid"]
    assert max(overlap) == 2 and all(j.state == "done" for j in jobs)
    # a worker that ran out of jobs retires; a later request starts workers again
    trainer.request("d2", ["dr", "two_tower"])
    assert trainer.wait(10) and all(j.state == "done" for j in trainer.status("d2"))
    with pytest.raises(ValueError, match="workers"):
        BackgroundTrainer(train, workers=0)


def test_requests_racing_retiring_workers_are_never_stranded():
    """A request that lands while the workers are finding the queue empty still gets its job trained."""
    trainer = BackgroundTrainer(lambda dataset, method, progress: None, workers=2)
    for i in range(200):
        trainer.request(f"d{i}", ["two_tower"])
    assert trainer.wait(20)
    assert all(j.state == "done" for j in trainer.status()) and len(trainer.status()) == 200


def test_a_training_process_reports_its_error_and_the_panel_shows_it_as_it_is(data_root, monkeypatch):
    """The app trains each model in a child Python (recall_core.train_process); a failure there reaches the
    trainer's panel as the child's own error, and a worker count that is not a number is refused."""
    from recall_core.train_process import TrainingProcessError, default_workers, train_in_subprocess

    with pytest.raises(TrainingProcessError, match=r"^MethodError: Unknown method 'nope'"):
        train_in_subprocess("ml-100k", "nope", threads=1)
    trainer = BackgroundTrainer(lambda d, m, progress: train_in_subprocess(d, m, progress, threads=1))
    trainer.request("ml-100k", ["nope"])
    assert trainer.wait(60)
    assert trainer.status()[0].error.startswith("MethodError: Unknown method 'nope'")
    monkeypatch.setenv("RECALL_LAB_TRAIN_WORKERS", "three")
    with pytest.raises(ValueError, match="whole number"):
        default_workers()
    monkeypatch.setenv("RECALL_LAB_TRAIN_WORKERS", "3")
    assert default_workers() == 3


def test_warm_training_processes_answer_as_fresh_ones_do(data_root):
    """Training children forked from the warm zygote (recall_core.train_zygote) follow the protocol of a fresh
    Python: done for a job that finishes, the child's own error for one that fails."""
    from recall_core.train_process import TrainingProcessError, train_in_subprocess
    from recall_core.train_zygote import ZYGOTE

    for warm in (True, False):
        messages = []
        train_in_subprocess("ml-100k", "popular", lambda f, m: messages.append(m), threads=1, warm=warm)
        with pytest.raises(TrainingProcessError, match=r"^DataError: .*nowhere"):
            train_in_subprocess("nowhere", "two_tower", threads=1, warm=warm)
    assert ZYGOTE.start() and ZYGOTE._process.poll() is None


def test_a_warm_child_that_dies_is_reported_and_the_zygote_survives(data_root):
    """A child killed mid-training (out of memory, say) is a failed job with a message, not a hang; the zygote
    forks the next one; stopping the zygote ends it, and the next job starts another."""
    import threading

    import psutil

    from recall_core.train_process import TrainingProcessError, train_in_subprocess
    from recall_core.train_zygote import ZYGOTE

    assert ZYGOTE.start()
    zygote = psutil.Process(ZYGOTE._process.pid)
    errors = []

    def train():
        try:
            train_in_subprocess("ml-100k", "two_tower", threads=1)
        except TrainingProcessError as exc:
            errors.append(str(exc))

    job = threading.Thread(target=train)
    job.start()
    deadline = time.time() + 60
    while not zygote.children() and time.time() < deadline:
        time.sleep(0.05)
    zygote.children()[0].kill()
    job.join(60)
    assert errors and "ended before it finished" in errors[0]
    train_in_subprocess("ml-100k", "popular", threads=1)  # the zygote still forks
    ZYGOTE.stop()
    assert not zygote.is_running() or zygote.status() == psutil.STATUS_ZOMBIE
    train_in_subprocess("ml-100k", "popular", threads=1)
    assert ZYGOTE._process.pid != zygote.pid


def test_an_idle_zygote_exits_and_the_next_job_starts_another(data_root, monkeypatch):
    """With nothing to do for IDLE_EXIT_S the zygote exits (its memory goes back to the server's machine); the next
    job starts a new one, and the old one's folder is gone."""
    import recall_core.train_zygote as train_zygote
    from recall_core.train_process import train_in_subprocess

    zygote = train_zygote.Zygote()
    monkeypatch.setattr(train_zygote, "ZYGOTE", zygote)
    monkeypatch.setenv("RECALL_LAB_ZYGOTE_IDLE_S", "1")
    train_in_subprocess("ml-100k", "popular", threads=1)
    first, folder = zygote._process, Path(zygote._path).parent
    first.wait(30)  # exits about a second after its child finished
    train_in_subprocess("ml-100k", "popular", threads=1)
    assert zygote._process is not first and zygote._process.poll() is None and not folder.exists()
    zygote.stop()


def test_a_warm_child_whose_parent_left_ends_instead_of_serving(data_root):
    """When the server that asked for a job is gone (its end of the connection closed), the child's next report
    fails and the child exits; it never falls back into the zygote's loop as a second zygote."""
    import os

    import psutil

    from recall_core.paths import DATA_ENV
    from recall_core.train_zygote import ZYGOTE

    assert ZYGOTE.start()
    zygote = psutil.Process(ZYGOTE._process.pid)
    env = {**os.environ, DATA_ENV: str(data_root)}
    lines = ZYGOTE.connect({"dataset": "ml-100k", "method": "two_tower", "threads": 1, "seed": 7, "device": "cpu",
                            "env": env})
    deadline = time.time() + 30
    while not zygote.children() and time.time() < deadline:
        time.sleep(0.05)
    child = zygote.children()[0]
    lines.close()
    child.wait(120)  # ends at its first progress report
    assert not zygote.children() and zygote.is_running()
    assert not (data_root / "artifacts" / "ml-100k" / "two_tower-seed7.pt").exists()


def test_a_zygote_stopped_by_a_signal_cleans_up_its_socket():
    """Stopping the server's process group (Ctrl-C, or SIGTERM from a service manager) stops the zygote, which
    removes its socket and folder on the way out."""
    import signal

    from recall_core.train_zygote import Zygote

    for stop in (signal.SIGTERM, signal.SIGINT):
        zygote = Zygote()
        assert zygote.start()
        folder = Path(zygote._path).parent
        zygote._process.send_signal(stop)
        assert zygote._process.wait(30) == 0
        assert not folder.exists()
        zygote.stop()


def test_a_zygote_whose_parent_left_while_it_imported_cleans_up(tmp_path):
    """The server may stop while its zygote is still importing: the zygote then finds nobody to tell it is ready,
    and leaves no socket behind."""
    import subprocess
    import sys

    from recall_core.paths import PROJECT_ROOT

    path = tmp_path / "sock" / "zygote.sock"
    path.parent.mkdir()
    zygote = subprocess.Popen([sys.executable, "-m", "recall_core.train_zygote", str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, cwd=str(PROJECT_ROOT))
    zygote.stdout.close()  # the parent is gone before the zygote says it is ready
    zygote.stdin.close()
    assert zygote.wait(120) == 0
    assert not path.exists() and not path.parent.exists()
