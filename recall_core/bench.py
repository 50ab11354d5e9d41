"""python -m recall_core.bench --dataset ml-100k --out bench/latest

One benchmark for every method under the shared protocol:
1. quality on MovieLens over several seeds (mean ± std; the test set is small),
2. budget curves (recall@50 against evaluations per user) with each model's ceiling,
3. the constructed world's sweep (``--world-knobs``) and each method's per-segment recall,
4. training speed per method (seconds per epoch and in all) on this device.
Writes report.json, report.md and the figures (PNG and interactive HTML) to --out.  How cost grows with the
catalogue is the scale study's (``python -m recall_core.scale``), not this benchmark's.
"""
from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from .artifacts import atomic_write_bytes
from .cli import apply_data_dir, load_data, run_cli, training_bar
from .dr import DR_BEAMS, path_size_stats, rerun_path_step
from .methods import artifact_status, default_config, load_or_train
from .protocol import ItemCF, evaluate, per_user_recall
from .segments import segment_table, segment_users
from .stats import paired_difference
from .training import resolve_device
from .tuning import choose_search, curve_as_budget

QUALITY_METHODS = ["popular", "item_cf", "two_tower", "tdm", "dr", "nann", "nann_plain", "sid"]
TABLE = ["precision@10", "recall@10", "f1@10", "recall@50", "ndcg@50", "bruteforce_recall@50", "scored_per_user",
         "ms_per_user", "train_seconds"]
DR_ALPHAS = [0.0, 1e-3, 1e-2, 1e-1]  # the π step re-run from the trained model at each α (collapse at 0)


def quality(split, seeds: list[int], device: str, methods: list[str], log=print) -> tuple[list[dict], dict]:
    """Per-seed test reports of every method, each index's search setting chosen on validation first.

    Returns the rows and, for the first seed, each index's validation sweep as its budget curve.
    """
    rows, curves = [], {}
    for seed in seeds:
        for method in methods:
            log(f"[quality] {method} seed {seed}")
            trainable = default_config(method) is not None
            fresh = trainable and artifact_status(split, method, seed) != "ready"
            with training_bar(f"{method} seed {seed}", enabled=trainable) as progress:
                retriever = load_or_train(split, method, seed, device, progress=progress, log=log)
            choice = choose_search(method, retriever, split.valid)
            row = evaluate(retriever, split, search=choice.setting if choice else None, per_user=True)
            row["seed"] = seed
            row["trained_in_this_run"] = bool(fresh)
            train_log = getattr(retriever, "log", None) or {}
            row["train_seconds"] = float(train_log.get("train_seconds", train_log.get("wall_seconds", 0.0)))
            row["wall_seconds"] = float(train_log.get("wall_seconds", row["train_seconds"]))
            row["seconds_per_epoch"] = _epoch_seconds(train_log)
            if choice is not None:
                row["validation"] = choice.as_dict()
                if seed == seeds[0]:
                    curves[method] = {"knob": choice.knob, "rows": curve_as_budget(choice),
                                      "ceiling": choice.ceiling, "users": "validation"}
            if method == "dr":
                row["alpha_sweep"] = [dict(alpha=a, **path_size_stats(rerun_path_step(retriever, a), retriever.n_paths))
                                      for a in DR_ALPHAS]
            rows.append(row)
    return rows, curves


def combine_reports(paths: list[Path], split) -> tuple[list[dict], dict]:
    """Quality rows and budget curves of earlier runs on the same data (checked), as one run's."""
    rows, curves = [], {}
    for path in paths:
        report = json.loads(path.read_text())
        if report.get("dataset") != split.name or report.get("n_test_users") != len(split.test):
            raise ValueError(f"{path} is a report on other data ({report.get('dataset')}); cannot combine it")
        # each row keeps the training profile of the run that made it (runs may differ: e.g. one method quick)
        rows += [{**row, "profile": row.get("profile", report.get("profile"))} for row in report["rows"]]
        curves.update(report.get("budget_curves", {}))
    return rows, curves


WORLD_KEY = ("knob", "seed", "method")  # one world-sweep row per world (knob, world seed) and method


def combine_world_sweeps(paths: list[Path], fresh: list[dict] | None = None) -> list[dict]:
    """World-sweep rows of earlier runs (e.g. one world seed per process) joined with this run's ``fresh`` rows.

    One row per (knob, seed, method): a later report's row replaces an earlier one's, and this run's rows replace
    both.  Rows are ordered by seed, then knob, then the order methods first appear (as ``world_sweep`` writes
    them).  Refused (ValueError) when the rows were made with different two-tower dimensions: that is another
    world configuration, not another seed of the same one.
    """
    merged: dict[tuple, dict] = {}
    for rows in [json.loads(Path(path).read_text()).get("world_sweep", []) for path in paths] + [fresh or []]:
        for row in rows:
            merged[tuple(row[k] for k in WORLD_KEY)] = row
    dims = {row.get("two_tower_dim") for row in merged.values()}
    if len(dims) > 1:
        raise ValueError(f"world-sweep rows with different two-tower dimensions {sorted(dims, key=str)}; "
                         "cannot combine them")
    methods = list(dict.fromkeys(row["method"] for row in merged.values()))
    return sorted(merged.values(), key=lambda r: (r["seed"], r["knob"], methods.index(r["method"])))


def _world(knobs, seeds, methods, device, say) -> list[dict]:
    from .worlds import world_sweep

    return world_sweep(knobs, seeds, methods, device=device, log=say)


def _world_description() -> str:
    """The constructed world's own account of itself (the construction paragraph of ``make_world``)."""
    from .worlds import make_world

    paragraphs = [" ".join(p.split()) for p in (make_world.__doc__ or "").split("\n\n")]
    return " ".join(p for p in paragraphs if p.startswith(("Construction", "Why")))


def validation_standard_error(split) -> float:
    """Standard error of a validation recall@50 (item-CF's per-user figures: deterministic and cheap)."""
    items = ItemCF(split).retrieve(split.valid.inputs, 50).items
    values = per_user_recall(items, split.valid.truths, 50)
    return float(values.std() / np.sqrt(len(values)))


def _epoch_seconds(train_log: dict) -> float | None:
    seconds = list(train_log.get("seconds_per_epoch", []))
    for phase in train_log.get("phases", []) + [train_log.get("generator", {})]:  # TDM / DR phases, SID's generator
        seconds += phase.get("seconds_per_epoch", [])
    return float(np.mean(seconds)) if seconds else None


def per_user(rows: list[dict], key: str = "per_user_recall@50") -> dict[str, np.ndarray]:
    """method -> [n_seeds, n_test_users] of a per-user figure (rows of one method share the test users)."""
    out = {}
    for method in dict.fromkeys(r["method"] for r in rows):
        out[method] = np.array([r[key] for r in rows if r["method"] == method and key in r])
    return out


def paired_to_baseline(rows: list[dict], baseline: str = "two_tower") -> dict[str, dict]:
    """Per method: paired per-user difference to the baseline's index recall@50, for the method's index and
    for its brute-force ceiling, each with a bootstrap 95% interval over test users (seeds averaged per user)."""
    index, brute = per_user(rows), per_user(rows, "per_user_bruteforce_recall@50")
    if baseline not in index:
        return {}
    out = {}
    for method in index:
        if method == baseline or not len(index[method]):
            continue
        out[method] = {"index": paired_difference(index[method], index[baseline]).as_dict(),
                       "ceiling": paired_difference(brute[method], index[baseline]).as_dict()}
    return out


def summarise(rows: list[dict]) -> list[dict]:
    """Mean and standard deviation over seeds for every method and metric, with the chosen search settings."""
    out = []
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        summary = {"method": method, "seeds": len(mine)}
        for key in TABLE + ["seconds_per_epoch"]:
            values = [r[key] for r in mine if r.get(key) is not None]
            if values:
                summary[key] = float(np.mean(values))
                summary[key + "_std"] = float(np.std(values))
        for key in ("ann_recall_vs_exact@50", "recall_vs_bruteforce@50", "hnsw_rule_recall@50",
                    "hnsw_rule_scored_per_user", "paths_largest_path", "paths_non_empty_paths", "paths_gini"):
            values = [r[key] for r in mine if key in r]
            if values:
                summary[key] = float(np.mean(values))
        if any("search" in r for r in mine):
            summary["search_per_seed"] = [r.get("search", {}) for r in mine]
        ratios = [r["recall@50"] / r["bruteforce_recall@50"] for r in mine if r.get("bruteforce_recall@50")]
        if ratios:
            summary["index_over_ceiling"] = float(np.mean(ratios))
        out.append(summary)
    return out


# ---------------------------------------------------------------------------- figures


def budget_figure(curves: dict, lang: str = "en"):
    from .viz.curves import budget_curve_figure

    data = {m: c["rows"] for m, c in curves.items()}
    return budget_curve_figure(data, {m: c["knob"] for m, c in curves.items()},
                               {m: c["ceiling"] for m, c in curves.items()}, lang)


def save_png(path: Path, kind: str, payload) -> None:
    """Static PNGs with matplotlib (no browser needed); the HTML files carry the interactive versions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if kind == "world":
        from .claims import world_table

        fig, ax = plt.subplots(figsize=(8, 5))
        for i, (method, by_knob) in enumerate(world_table(payload).items()):
            knobs = sorted(by_knob)
            ax.errorbar(knobs, [by_knob[k][0] for k in knobs], yerr=[by_knob[k][1] for k in knobs], fmt="o-",
                        color=f"C{i}", label=method, capsize=3)
        ax.set_xlabel("knob: 0 = an inner product suffices … 1 = it cannot express the taste")
        ax.set_ylabel("recall@50 (test users of the world)")
        ax.set_title("A constructed world (synthetic)")
        ax.legend(fontsize=8)
    elif kind == "budget":
        fig, ax = plt.subplots(figsize=(8, 5))
        for i, (method, c) in enumerate(payload.items()):
            colour = f"C{i}"
            xs = [r["scored_per_user"] for r in c["rows"]]
            ax.plot(xs, [r["recall@50"] for r in c["rows"]], "o-", color=colour, label=f"{method} ({c['knob']})")
            ax.axhline(c["ceiling"], color=colour, linestyle="--", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("model evaluations per user (items or index nodes)")
        ax.set_ylabel("recall@50")
        ax.set_title("Budget curves on ml-100k (dashed: each model's brute-force recall)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------- report


def markdown(report: dict) -> str:
    lines = [f"# Recall Lab benchmark — {report['dataset']}", "",
             f"Command: `{report['command']}`  ",
             f"Machine: {report['machine']}; device `{report['device']}`; wall time {report['wall_seconds'] / 60:.1f} min; "
             f"profile `{report['profile']}`{_other_profiles(report)}; "
             f"{_provenance(report['rows'], bool(report.get('combined_from')))}.", "",
             f"Protocol: {report.get('n_valid_users', '?')} validation users (recall@50 standard error "
             f"{report.get('valid_standard_error', float('nan')):.4f}) choose every search setting; the "
             f"{report['n_test_users']} test users are used once, for the figures below.", ""]
    lines += _quality_table(report) + _paired_table(report) + _settings_table(report) + _segment_lines(report)
    lines += ["## Budget curves (validation users)", "", "![budget](budget_curves.png)", "",
              "[interactive](budget_curves.html). Knobs: two-tower hnswlib `ef`, TDM beam size, DR beam size, "
              "NANN steps T at layer 0. Dashed lines: the same model scoring every item (on validation).", ""]
    lines += _world_lines(report)
    lines += ["## Cost growth with catalogue size", "",
              "Measured by the scale study, not here: `python -m recall_core.scale` (one scorer for every index, "
              "each index learned for it; report in `bench/scale/report.md`).", ""]
    lines += _details(report)
    lines += ["## Training speed", "", "| method | s / epoch | s in all | device |", "|---|---|---|---|"]
    for s in report["summary"]:
        if s.get("train_seconds"):
            lines.append(f"| {s['method']} | {s.get('seconds_per_epoch', float('nan')):.1f} | "
                         f"{s['train_seconds']:.0f} | {report['device']} |")
    return "\n".join(lines) + "\n"


def _quality_table(report: dict) -> list[str]:
    lines = [f"## Quality on {report['dataset']} ({report['n_test_users']} test users, seeds {report['seeds']})", "",
             "Mean ± std over seeds; index settings chosen on validation. `index/ceiling` = recall@50 of the index "
             "over the same model's brute force.", "",
             "| method | P@10 | R@10 | R@50 | NDCG@50 | brute-force R@50 | index/ceiling | scored/user | ms/user | train s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for s in report["summary"]:
        cell = lambda k, d=3: f"{s[k]:.{d}f} ± {s.get(k + '_std', 0):.{d}f}" if k in s else "—"
        ratio = f"{s['index_over_ceiling']:.3f}" if "index_over_ceiling" in s else "—"
        lines.append(f"| {s['method']} | {cell('precision@10')} | {cell('recall@10')} | {cell('recall@50')} | "
                     f"{cell('ndcg@50')} | {cell('bruteforce_recall@50')} | {ratio} | "
                     f"{s.get('scored_per_user', 0):.0f} | {s.get('ms_per_user', 0):.2f} | {s.get('train_seconds', 0):.0f} |")
    return lines + [""]


def _paired_table(report: dict) -> list[str]:
    paired = report.get("paired", {})
    if not paired:
        return []
    lines = ["## Against the two-tower, user by user", "",
             "Mean per-user difference in recall@50 to the two-tower's index (each user's figure averaged over the "
             "seeds first), with a bootstrap 95% interval over test users. `better` / `worse` only when the interval "
             "excludes 0.", "", "| method | index − two-tower | verdict | ceiling − two-tower | verdict |",
             "|---|---|---|---|---|"]
    for method, d in paired.items():
        fmt = lambda x: f"{x['mean']:+.3f} [{x['low']:+.3f}, {x['high']:+.3f}]"
        lines.append(f"| {method} | {fmt(d['index'])} | {d['index']['verdict']} | {fmt(d['ceiling'])} | "
                     f"{d['ceiling']['verdict']} |")
    return lines + [""]


def _settings_table(report: dict) -> list[str]:
    chosen = [r for r in report["rows"] if r.get("validation")]
    if not chosen:
        return []
    lines = ["## Search settings chosen on validation", "",
             "The cheapest setting whose validation recall@50 is within 0.005 of the model's validation ceiling "
             "(half the validation standard error).", "",
             "| method | seed | knob | chosen | validation R@50 at it | validation ceiling | test R@50 |",
             "|---|---|---|---|---|---|---|"]
    for r in chosen:
        v = r["validation"]
        at = next((c["recall@50"] for c in v["curve"] if all(c[k] == x for k, x in v["setting"].items())), float("nan"))
        lines.append(f"| {r['method']} | {r['seed']} | {v['knob']} | {v['setting'][v['knob']]} | {at:.3f} | "
                     f"{v['valid_ceiling']:.3f} | {r['recall@50']:.3f} |")
    return lines + [""]


def _segment_lines(report: dict) -> list[str]:
    rows = report.get("segments", [])
    if not rows:
        return []
    lines = ["## Who wins for whom (test users in thirds)", "",
             "recall@50 per segment (mean over seeds) with its 95% interval; the difference to the two-tower is "
             "paired per user.", "", "| feature | segment (range) | users | method | R@50 [95%] | − two-tower [95%] |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        diff = (f"{r['diff']:+.3f} [{r['diff_low']:+.3f}, {r['diff_high']:+.3f}] {r['verdict']}"
                if "diff" in r else "—")
        lines.append(f"| {r['feature']} | {r['level']} ({r['min']:.2f}–{r['max']:.2f}) | {r['n_users']} | {r['method']} | "
                     f"{r['recall@50']:.3f} [{r['low']:.3f}, {r['high']:.3f}] | {diff} |")
    return lines + [""]


def _world_lines(report: dict) -> list[str]:
    from .claims import world_findings, world_table

    rows = report.get("world_sweep", [])
    if not rows:
        return []
    table = world_table(rows)
    knobs = sorted({r["knob"] for r in rows})
    seeds = sorted({r["seed"] for r in rows})
    lines = ["## A constructed world (synthetic, labelled as such)", "", report.get("world_description", ""), "",
             f"recall@50 on the world's test users, mean ± std over seeds {seeds}; TDM, DR and NANN trained with the "
             "quick profile, the two-tower with dimension 16, every search setting chosen on the world's validation "
             "users:", "", "| knob | " + " | ".join(table) + " |", "|---|" + "---|" * len(table)]
    for knob in knobs:
        cells = [f"{by[knob][0]:.3f} ± {by[knob][1]:.3f}" if knob in by else "—" for by in table.values()]
        lines.append(f"| {knob:g} | " + " | ".join(cells) + " |")
    return lines + ["", *[f"- {line}" for line in world_findings(rows)], "", "![world](world_sweep.png)", ""]


def _other_profiles(report: dict) -> str:
    """Combined runs: the learned methods whose rows came from a run with another training profile than this one's."""
    other = {}
    for row in report["rows"]:
        if row.get("train_seconds") and row.get("profile") and row["profile"] != report["profile"]:
            other.setdefault(row["profile"], []).append(row["method"])
    return "".join(f" ({', '.join(dict.fromkeys(methods))} trained with profile `{name}`)"
                   for name, methods in other.items())


def _provenance(rows: list[dict], combined: bool = False) -> str:
    learned = [r for r in rows if r.get("train_seconds")]
    fresh = sum(bool(r.get("trained_in_this_run")) for r in learned)
    where = "in the combined runs (quality rows from --from-reports)" if combined else "in this run"
    return (f"{fresh} of {len(learned)} models trained {where}, the others loaded from earlier runs "
            f"(the train s column is the time each took when it was trained)")


def _details(report: dict) -> list[str]:
    """Per-method figures behind the table: index vs exact, the classic HNSW rule, DR's path spread."""
    by = {s["method"]: s for s in report["summary"]}
    lines = ["## Method details (mean over seeds)", ""]
    if "two_tower" in by and "ann_recall_vs_exact@50" in by["two_tower"]:
        lines.append(f"- two-tower: hnswlib top-50 agrees with the exact top-50 on "
                     f"{by['two_tower']['ann_recall_vs_exact@50']:.1%} of items.")
    for m in ("nann", "nann_plain"):
        if m in by and "recall_vs_bruteforce@50" in by[m]:
            lines.append(f"- {m}: graph top-50 agrees with the same scorer's brute-force top-50 on "
                         f"{by[m]['recall_vs_bruteforce@50']:.1%}; the classic HNSW rule (best-first, unbounded steps, "
                         f"same neural score, ef 64) reaches recall@50 {by[m].get('hnsw_rule_recall@50', 0):.3f} with "
                         f"{by[m].get('hnsw_rule_scored_per_user', 0):.0f} items scored.")
    if "dr" in by and "paths_largest_path" in by["dr"]:
        lines.append(f"- dr: {by['dr']['paths_non_empty_paths']:.0f} non-empty paths, largest "
                     f"{by['dr']['paths_largest_path']:.0f} items, Gini of path sizes {by['dr']['paths_gini']:.2f}.")
    alphas = [r for r in report["rows"] if r.get("alpha_sweep")]
    if alphas:
        lines += ["", "DR path step re-run from each trained model at other α (non-empty paths of "
                  f"{alphas[0]['K'] ** alphas[0]['D']} / largest path / Gini of path sizes, per seed):", "",
                  "| seed | " + " | ".join(f"α={a['alpha']:g}" for a in alphas[0]["alpha_sweep"]) + " |",
                  "|---|" + "---|" * len(alphas[0]["alpha_sweep"])]
        for r in alphas:
            lines.append(f"| {r['seed']} | " + " | ".join(
                f"{a['non_empty_paths']} / {a['largest_path']} / {a['gini']:.2f}" for a in r["alpha_sweep"]) + " |")
    return lines + [""]


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(description="Benchmark every method under one protocol.")
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--out", default="bench/latest")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--methods", default=",".join(QUALITY_METHODS))
    p.add_argument("--device", default="auto")
    p.add_argument("--data-dir")
    p.add_argument("--source")
    p.add_argument("--world-knobs", default="0,0.5,1",
                   help="knob values of the constructed world's sweep ('' to skip it)")
    p.add_argument("--world-methods", default="item_cf,two_tower,tdm,dr,nann")
    p.add_argument("--world-seeds", help="seeds of the world sweep (default: --seeds)")
    p.add_argument("--from-reports", help="comma-separated report.json files of earlier runs (e.g. methods run in "
                                          "parallel processes): their quality rows are combined instead of re-run, "
                                          "and their world-sweep rows joined with this run's")
    args = p.parse_args(argv)
    apply_data_dir(args)
    device = str(resolve_device(args.device))
    start = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    split = load_data(args)
    seeds = [int(s) for s in args.seeds.split(",")]
    say = lambda msg: print(msg, file=sys.stderr, flush=True)
    if args.from_reports:
        rows, curves = combine_reports([Path(p) for p in args.from_reports.split(",")], split)
        seeds = sorted({r["seed"] for r in rows})
    else:
        rows, curves = quality(split, seeds, device, args.methods.split(","), log=say)
    paired = paired_to_baseline(rows)
    test_rows = {m: v for m, v in per_user(rows).items() if len(v)}
    segments = segment_table(test_rows, segment_users(split, split.test)) if "two_tower" in test_rows else []
    knobs = [float(k) for k in args.world_knobs.split(",") if k]
    world_seeds = [int(s) for s in args.world_seeds.split(",")] if args.world_seeds else seeds
    world = _world(knobs, world_seeds, args.world_methods.split(","), device, say) if knobs else []
    if args.from_reports:  # earlier runs' world seeds (or knobs) join this run's sweep
        world = combine_world_sweeps([Path(p) for p in args.from_reports.split(",")], world)
    from .methods import profile

    report = {
        "dataset": args.dataset, "seeds": seeds, "device": device, "profile": profile(),
        "command": "python -m recall_core.bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, "
                   f"{'CUDA ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'CPU'}",
        "n_test_users": len(split.test), "n_items": split.n_items, "n_valid_users": len(split.valid),
        "valid_standard_error": validation_standard_error(split),
        "rows": rows, "summary": summarise(rows), "budget_curves": curves,
        "paired": paired, "segments": segments, "world_sweep": world,
        "world_description": _world_description() if world else "",
        "combined_from": args.from_reports.split(",") if args.from_reports else [],
    }
    report["wall_seconds"] = time.perf_counter() - start
    write_text = lambda name, text: atomic_write_bytes(out / name, lambda fh: fh.write(text.encode()))
    write_text("report.json", json.dumps(report, indent=1, default=float))
    write_text("report.md", markdown(report))
    write_text("budget_curves.html", budget_figure(curves).to_html(include_plotlyjs=True, full_html=True))
    save_png(out / "budget_curves.png", "budget", curves)
    if world:
        save_png(out / "world_sweep.png", "world", world)
    say(f"report written to {out}/report.md in {report['wall_seconds'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    run_cli(main)
