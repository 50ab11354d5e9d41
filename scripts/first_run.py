"""First-run benchmark (issue 13 §1): train every model as the app does, time it, and check its recall.

    python scripts/first_run.py --seeds 0,1,2 --out bench/first-run [--reference-data-dir data |
        --reference-report bench/latest/report.json] [--quick] [--start server|click] [--workers N | --in-process]

For each seed, every learned model is trained from nothing into a fresh folder the way the app's background
trainer does it: in teaching order (two-tower first), ``--workers`` training processes at once (default: the
app's, ``RECALL_LAB_TRAIN_WORKERS`` or 2 on a machine with 2+ cores), each with the machine's cores shared out as
torch threads. The report gives each model's wall time (its process, imports included) and the time until every
model is ready, from the first visitor's click: the training processes' warm parent started with the server before
it (``--start server``, as the app does), or by the first job (``--start click``). ``--in-process`` trains one
model after another in this process instead, on all the cores (how the app trained before issue 13's worker
processes). Each model is then evaluated on the test users under the shared protocol (index at its default search
settings, and brute force). With ``--reference-data-dir`` the models already trained there (e.g. by an earlier
version) are evaluated the same way, with the configuration each was trained with, so the table says whether a
faster training kept its recall ("within 0.01", issue 13). Where those models are gone (a fresh machine),
``--reference-report`` takes the per-seed test figures of a committed benchmark report instead (``python -m
recall_core.bench``: the index at its validation-chosen setting, same test users). Prints a table and writes
``report.json`` and ``report.md`` under ``--out``. A benchmark, not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TOLERANCE = 0.01  # issue 13: recall@50 within 0.01 of the earlier figures


def load_as_trained(split, method: str, seed: int, root: Path):
    """An artifact restored with the configuration it was trained with (read from its metadata), so that
    a model of an earlier version loads even where today's defaults differ; None when absent/unreadable."""
    import torch

    from recall_core import artifacts
    from recall_core.methods import get_spec, serving_fields

    spec, path = get_spec(method), artifacts.artifact_path(split.name, method, seed, root)
    meta = artifacts.read_meta(path)
    if meta is None:
        return None
    stored = meta["config"]
    known = {f for f in spec.config_cls.__dataclass_fields__}
    config = spec.config_cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in stored.items() if k in known})
    try:
        payload = artifacts.load(path, method=method, data_fingerprint=split.fingerprint(), config=stored,
                                 serving=serving_fields(method))
    except artifacts.ArtifactError:
        return None
    return spec.restore(split, config, payload, torch.device("cpu"))


def measure(split, method: str, seed: int, root: Path, train: bool = True, seconds: float | None = None) -> dict | None:
    """Test figures of one model: trained now in this process (``train``), or as found under ``root`` (timed
    elsewhere: ``seconds``)."""
    import torch

    from recall_core.methods import load_or_train
    from recall_core.protocol import evaluate

    start = time.perf_counter()
    if train:
        model = load_or_train(split, method, seed, torch.device("cpu"), root=root, log=lambda _msg: None)
        seconds = time.perf_counter() - start
    else:
        model = load_as_trained(split, method, seed, root)
        if model is None:
            return None
    row = evaluate(model, split)
    return {"method": method, "seed": seed, "seconds": seconds,
            "train_seconds": (getattr(model, "log", {}) or {}).get("train_seconds"),
            "recall@50": row["recall@50"], "bruteforce_recall@50": row["bruteforce_recall@50"]}


# When the warm parent of the training processes (recall_core.train_zygote, 3-4 s of imports) starts, relative to
# the clock: "server" -- before it, as ui.startup starts it when the server starts on a dataset that lacks models,
# so the clock starts at the first visitor's click; "click" -- stopped first, so the first two models wait for its
# imports, as for a visitor who clicks in the very second the server starts.
STARTS = ("server", "click")


def train_as_the_app_does(dataset: str, methods: list[str], seed: int, root: Path, workers: int,
                          start_at: str = "server") -> tuple[dict, float]:
    """Train ``methods`` through the background trainer with ``workers`` training processes into ``root``;
    returns each model's wall seconds and the seconds until all were ready (``start_at``: see STARTS)."""
    from recall_core.background import BackgroundTrainer
    from recall_core.movielens import ensure_dataset
    from recall_core.train_process import threads_per_worker, train_in_subprocess
    from recall_core.train_zygote import ZYGOTE
    from recall_core.worlds import is_constructed

    if not is_constructed(dataset):
        ensure_dataset(dataset, root=root)  # the data is in place before training starts, as in the app
    if start_at == "server":
        ZYGOTE.start()
    else:
        ZYGOTE.stop()
    threads = threads_per_worker(workers)
    trainer = BackgroundTrainer(lambda d, m, progress: train_in_subprocess(d, m, progress, threads, seed, root=root),
                                workers)
    start = time.perf_counter()
    trainer.request(dataset, methods)
    trainer.wait(timeout=24 * 3600)
    total = time.perf_counter() - start
    failed = [f"{j.method}: {j.error}" for j in trainer.status() if j.state != "done"]
    if failed:
        raise SystemExit("training failed: " + "; ".join(failed))
    return {j.method: j.seconds for j in trainer.status()}, total


def reference_rows(report_path: Path, dataset: str, seeds: list[int], methods: list[str]) -> list[dict]:
    """The per-seed test figures of a committed benchmark report (``bench/*/report.json``), as reference rows."""
    report = json.loads(Path(report_path).read_text())
    if report.get("dataset") != dataset:
        raise SystemExit(f"{report_path} is a report on {report.get('dataset')!r}, not {dataset!r}")
    return [{"method": r["method"], "seed": r["seed"], "seconds": None, "train_seconds": r.get("train_seconds"),
             "recall@50": r["recall@50"], "bruteforce_recall@50": r["bruteforce_recall@50"]}
            for r in report["rows"] if r.get("seed") in seeds and r["method"] in methods]


def summarise(rows: list[dict], reference: list[dict]) -> list[dict]:
    import numpy as np

    out = []
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        ref = [r for r in reference if r["method"] == method]
        line = {"method": method, "seeds": [r["seed"] for r in mine],
                "seconds_mean": float(np.mean([r["seconds"] for r in mine])),
                "seconds_max": float(np.max([r["seconds"] for r in mine])),
                "recall@50": float(np.mean([r["recall@50"] for r in mine])),
                "bruteforce_recall@50": float(np.mean([r["bruteforce_recall@50"] for r in mine]))}
        if ref and sorted(r["seed"] for r in ref) == sorted(line["seeds"]):
            line["reference_recall@50"] = float(np.mean([r["recall@50"] for r in ref]))
            line["reference_bruteforce_recall@50"] = float(np.mean([r["bruteforce_recall@50"] for r in ref]))
            line["within_tolerance"] = bool(line["recall@50"] >= line["reference_recall@50"] - TOLERANCE)
        out.append(line)
    return out


def markdown(summary: list[dict], per_seed_total: dict, command: str, how: str) -> str:
    lines = [f"First-run training, `{command}`", "",
             "| model | train s (mean / max) | test recall@50 | brute force | reference recall@50 | within 0.01 |",
             "|---|---|---|---|---|---|"]
    for s in summary:
        ref = s.get("reference_recall@50")
        lines.append(f"| {s['method']} | {s['seconds_mean']:.0f} / {s['seconds_max']:.0f} | {s['recall@50']:.3f} | "
                     f"{s['bruteforce_recall@50']:.3f} | {'' if ref is None else f'{ref:.3f}'} | "
                     f"{'' if ref is None else ('yes' if s['within_tolerance'] else 'no')} |")
    totals = ", ".join(f"seed {k}: {v:.0f} s" for k, v in per_seed_total.items())
    lines += ["", f"All models ready ({how}): {totals}."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="ml-100k")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--methods", default="", help="comma-separated (default: every learned model)")
    ap.add_argument("--quick", action="store_true", help="the quick profile (RECALL_LAB_PROFILE=quick)")
    ap.add_argument("--reference-data-dir", type=Path, default=None,
                    help="a data folder (RECALL_LAB_DATA) whose artifacts/ hold the models to compare with")
    ap.add_argument("--reference-report", type=Path, default=None,
                    help="a benchmark report.json whose per-seed test figures are the reference")
    ap.add_argument("--work-dir", type=Path, default=None,
                    help="the data folder the new models go to (under artifacts/; default: a temp folder)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--workers", type=int, default=0, help="training processes at once (default: the app's)")
    ap.add_argument("--start", choices=STARTS, default="server",
                    help="the training processes' warm parent starts with the server (default: the clock starts at "
                         "the first click) or with the first click (its imports on the clock)")
    ap.add_argument("--in-process", action="store_true",
                    help="train one model after another in this process, on all cores (the app before its workers)")
    args = ap.parse_args(argv)
    if args.reference_data_dir is not None and args.reference_report is not None:
        ap.error("give --reference-data-dir or --reference-report, not both")
    if args.quick:
        os.environ["RECALL_LAB_PROFILE"] = "quick"
    import torch

    from recall_core.background import teaching_order
    from recall_core.data import load_split
    from recall_core.methods import LEARNED, profile
    from recall_core.train_process import cpu_count, default_workers, threads_per_worker

    workers = 1 if args.in_process else (args.workers or default_workers())
    threads = torch.get_num_threads() if args.in_process else threads_per_worker(workers)
    how = (f"one after another in one process, {threads} torch threads" if args.in_process else
           f"{workers} training process{'es' if workers > 1 else ''} at once, {threads} torch thread"
           f"{'s' if threads > 1 else ''} each, as the app trains them, their warm parent started "
           + ("with the server, before the clock" if args.start == "server" else "by the first job, on the clock"))
    methods = teaching_order([m for m in args.methods.split(",") if m] or LEARNED)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    split = load_split(args.dataset)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="recall-lab-first-run-"))
    rows, reference, per_seed_total = [], [], {}
    if args.reference_report is not None:
        reference = reference_rows(args.reference_report, args.dataset, seeds, methods)
    for seed in seeds:
        if not args.in_process:
            seconds, per_seed_total[seed] = train_as_the_app_does(args.dataset, methods, seed, work, workers,
                                                                  args.start)
        else:
            per_seed_total[seed] = 0.0
        for method in methods:
            if args.in_process:
                row = measure(split, method, seed, work)
                per_seed_total[seed] += row["seconds"]
            else:
                row = measure(split, method, seed, work, train=False, seconds=seconds[method])
            rows.append(row)
            ref_row = next((r for r in reference if r["method"] == method and r["seed"] == seed), None)
            if args.reference_data_dir is not None:
                ref_row = measure(split, method, seed, args.reference_data_dir, train=False)
                if ref_row:
                    reference.append(ref_row)
            ref_text = f"  reference {ref_row['recall@50']:.4f}" if ref_row else ""
            print(f"seed {seed} {method:<11} {row['seconds']:7.1f} s  recall@50 {row['recall@50']:.4f}  "
                  f"brute force {row['bruteforce_recall@50']:.4f}{ref_text}", flush=True)
    summary = summarise(rows, reference)
    command = "python scripts/first_run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = markdown(summary, per_seed_total, command, how)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        report = {"dataset": args.dataset, "profile": profile(), "seeds": seeds, "methods": methods,
                  "workers": workers, "torch_threads": threads, "cpu_count": cpu_count(), "how": how,
                  "machine": platform.platform(), "command": command, "rows": rows, "reference": reference,
                  "summary": summary, "all_models_seconds": per_seed_total}
        (args.out / "report.json").write_text(json.dumps(report, indent=1))
        (args.out / "report.md").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
