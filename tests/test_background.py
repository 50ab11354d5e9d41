"""The background trainer: teaching order, one job at a time, failures reported, no double training."""
from __future__ import annotations

import threading
import time

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
