"""The study: every index swept over its knob at every size, all timed the same way, summarised as the
cost to reach 0.90 / 0.95 / 0.99 of the scorer's exact top-50 (as ann-benchmarks compares ANN libraries:
every setting measured, the Pareto frontier of recall against cost kept).

Timing: one query at a time, single-threaded (BLAS and torch limited to one thread), in one process,
for every index and for brute force alike; brute force is timed on the first ``brute_timing_queries``
queries (its cost does not depend on the query). Seeds vary each index's construction and training; the
catalogue, the scorer, the test queries and the training queries' labels are shared by all seeds.
"""
from __future__ import annotations

import importlib
import inspect
import threading
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import psutil
import torch
from threadpoolctl import threadpool_limits

from .world import K_TOP, exact_top, inner_product_overlap, make_world, sample_queries, training_set

THRESHOLDS = (0.90, 0.95, 0.99)
# method -> (module, builder); a builder is called as builder(world, train, seed[, device])
REGISTRY = {
    "brute_force": ("brute", "BruteForce"),
    "tdm": ("tdm_index", "build_tdm"),
    "dr": ("dr_index", "build_dr"),
    "nann": ("graph_index", "build_nann"),
    "nann_rp": ("graph_index", "build_nann_projected"),
    "kmedoids_tree": ("medoid_tree", "build_medoid_tree"),
    "tdm_untrained": ("tdm_index", "untrained_tdm"),
    "dr_untrained": ("dr_index", "untrained_dr"),
}
LEARNED = ("tdm", "dr")


@dataclass
class StudyConfig:
    sizes: tuple[int, ...] = (1_000, 10_000, 100_000, 1_000_000)
    lams: tuple[float, ...] = (0.0, 1.0)
    seeds: tuple[int, ...] = (0, 1, 2)
    methods: tuple[str, ...] = ("brute_force", "tdm", "dr", "nann", "nann_rp", "kmedoids_tree", "tdm_untrained",
                                "dr_untrained")
    n_queries: int = 200
    n_train: int = 2_000
    brute_timing_queries: int = 50
    k: int = K_TOP
    device: str = "cpu"
    thresholds: tuple[float, ...] = THRESHOLDS
    stop_recall: float = 0.998  # a sweep stops at the first setting this good (all thresholds are behind it)


def build(method: str, world, train, seed: int, device: str = "cpu"):
    module, name = REGISTRY[method]
    builder = getattr(importlib.import_module(f"{__package__}.{module}"), name)
    params = inspect.signature(builder).parameters
    args = [world] + ([train] if "train" in params else []) + ([seed] if "seed" in params else [])
    return builder(*args, **({"device": device} if "device" in params else {}))


class PeakMemory:
    """Peak resident memory above the starting point, sampled every 20 ms (psutil) while in the block."""

    def __enter__(self):
        self.process = psutil.Process()
        self.start = self.peak = self.process.memory_info().rss
        self.running = True
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()
        return self

    def _watch(self):
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.02)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def megabytes(self) -> float:
        return (self.peak - self.start) / 2 ** 20


def recall_vs_exact(found: list[np.ndarray], exact: np.ndarray) -> np.ndarray:
    return np.array([len(set(f.tolist()) & set(e.tolist())) / len(e) for f, e in zip(found, exact)])


def measure(index, queries: np.ndarray, exact: np.ndarray, k: int, setting) -> dict:
    """One setting: every query searched one at a time on one thread; recall vs the exact top-k."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            found, spent = [], []
            start = time.perf_counter()
            for q in queries:
                result = index.search(q, k, setting)
                found.append(np.asarray(result.items))
                spent.append(result.evaluations)
            seconds = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    recalls = recall_vs_exact(found, exact[: len(queries)])
    return {"setting": setting if isinstance(setting, int) else list(setting),
            "recall": float(recalls.mean()), "evaluations": float(np.mean(spent)),
            "ms": 1000 * seconds / len(queries)}


@dataclass
class StudyResult:
    config: dict
    worlds: list[dict] = field(default_factory=list)  # per (n, lam): overlap with the inner product, label time
    sweeps: list[dict] = field(default_factory=list)  # per (n, lam, seed, method, setting)
    builds: list[dict] = field(default_factory=list)  # per (n, lam, seed, method)
    logs: list[dict] = field(default_factory=list)  # the learned indexes' training logs

    def to_json(self) -> dict:
        return {"config": self.config, "worlds": self.worlds, "sweeps": self.sweeps, "builds": self.builds,
                "logs": self.logs, "thresholds": threshold_table(self.sweeps, self.config["thresholds"]),
                "equal_budget": [row for a, b in (("tdm", "tdm_untrained"), ("dr", "dr_untrained"))
                                 for row in equal_budget(self.sweeps, a, b)]}


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def run_study(cfg: StudyConfig, progress=print, checkpoint=None) -> StudyResult:
    """The whole study; ``checkpoint(result)`` is called after each (size, lam), so a long run leaves its
    finished part behind."""
    result = StudyResult(asdict(cfg))
    for n in cfg.sizes:
        for lam in cfg.lams:
            world = make_world(n, lam)
            queries = sample_queries(world, cfg.n_queries, seed=1)
            exact = exact_top(world, queries, cfg.k)
            t0 = time.perf_counter()
            train = training_set(world, cfg.n_train, seed=0, k=cfg.k)
            labels_s = time.perf_counter() - t0
            result.worlds.append({"n": n, "lam": lam, "ip_overlap": inner_product_overlap(world, queries, exact),
                                  "label_seconds": labels_s, "n_train": cfg.n_train, "n_queries": cfg.n_queries})
            progress(f"n={n:,} lam={lam}: world ready (inner-product overlap {result.worlds[-1]['ip_overlap']:.2f}, "
                     f"labels {labels_s:.0f} s)")
            for method in cfg.methods:
                for seed in (cfg.seeds[:1] if method == "brute_force" else cfg.seeds):
                    with PeakMemory() as memory:
                        t0 = time.perf_counter()
                        index = build(method, world, train, seed, cfg.device)
                        built = time.perf_counter() - t0
                    key = {"n": n, "lam": lam, "seed": seed, "method": method}
                    built = getattr(index, "build_seconds", None) or built  # a graph shared across lam: its own build
                    result.builds.append({**key, "seconds": built, "peak_mb": memory.megabytes,
                                          "index_mb": index.nbytes() / 2 ** 20})
                    if getattr(index, "log", None):
                        result.logs.append({**key, "log": _jsonable(index.log)})
                    qs = queries[: cfg.brute_timing_queries] if method == "brute_force" else queries
                    best = 0.0
                    for setting in index.settings():
                        row = measure(index, qs, exact, cfg.k, setting)
                        result.sweeps.append({**key, "knob": index.knob, **row})
                        best = max(best, row["recall"])
                        if row["recall"] >= cfg.stop_recall or row["evaluations"] > n:
                            break  # every threshold reached, or dearer than brute force: larger settings say nothing
                    progress(f"n={n:,} lam={lam} seed={seed} {method}: built in {built:.1f} s, best recall {best:.3f}")
            if checkpoint is not None:
                checkpoint(result)
    return result


def _by(rows: list[dict], *keys) -> dict:
    groups: dict = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r)
    return groups


def mean_curve(rows: list[dict]) -> list[dict]:
    """One method at one (n, lam): per setting the mean over seeds (recall ± std, evaluations, ms), cheapest first."""
    curve = []
    for (setting,), group in _by([{**r, "key": str(r["setting"])} for r in rows], "key").items():
        recalls = [r["recall"] for r in group]
        curve.append({"setting": group[0]["setting"], "recall": float(np.mean(recalls)),
                      "recall_std": float(np.std(recalls)), "evaluations": float(np.mean([r["evaluations"] for r in group])),
                      "ms": float(np.mean([r["ms"] for r in group])), "seeds": len(group)})
    return sorted(curve, key=lambda c: c["evaluations"])


def pareto(curve: list[dict]) -> list[dict]:
    """The settings no cheaper setting beats: recall strictly rising with evaluations."""
    front, best = [], -1.0
    for point in curve:
        if point["recall"] > best:
            front.append(point)
            best = point["recall"]
    return front


def threshold_table(sweeps: list[dict], thresholds=THRESHOLDS) -> list[dict]:
    """Per (n, lam, method, threshold): the cheapest setting whose mean recall reaches it, or its best recall."""
    brute_ms = {(n, lam): g[0]["ms"] for (n, lam, m), g in _by(sweeps, "n", "lam", "method").items()
                if m == "brute_force"}
    table = []
    for (n, lam, method), group in sorted(_by(sweeps, "n", "lam", "method").items()):
        curve = mean_curve(group)
        for t in thresholds:
            hit = next((c for c in curve if c["recall"] >= t), None)
            row = {"n": n, "lam": lam, "method": method, "threshold": t, "reached": hit is not None,
                   "best_recall": max(c["recall"] for c in curve)}
            if hit is not None:
                ms_at = min(c["ms"] for c in curve if c["recall"] >= t)  # the fastest setting that reaches it
                row.update(setting=hit["setting"], evaluations=hit["evaluations"], ms=ms_at,
                           share_of_catalogue=hit["evaluations"] / n,
                           speedup=(brute_ms[(n, lam)] / ms_at) if (n, lam) in brute_ms and ms_at > 0 else None)
            table.append(row)
    return table


def recall_within(curve: list[dict], budget: float) -> float:
    """The best mean recall of any setting spending at most ``budget`` evaluations (0 if none does)."""
    return max((c["recall"] for c in curve if c["evaluations"] <= budget), default=0.0)


def equal_budget(sweeps: list[dict], method: str, other: str) -> list[dict]:
    """``method`` against ``other`` at equal budget: at each setting of ``method`` (its Pareto frontier),
    its recall and the best recall ``other`` reaches with no more evaluations."""
    rows = []
    for (n, lam), group in sorted(_by(sweeps, "n", "lam").items()):
        mine = [r for r in group if r["method"] == method]
        theirs = mean_curve([r for r in group if r["method"] == other])
        if not mine or not theirs:
            continue
        for point in pareto(mean_curve(mine)):
            rows.append({"n": n, "lam": lam, "method": method, "other": other, "evaluations": point["evaluations"],
                         "recall": point["recall"], "other_recall": recall_within(theirs, point["evaluations"])})
    return rows
