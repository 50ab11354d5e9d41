"""The scale study's report: report.json, report.md, a static PNG (matplotlib) and an interactive HTML."""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import numpy as np

from ..artifacts import atomic_write_bytes
from .study import _by, mean_curve, pareto

ORDER = ("brute_force", "tdm", "dr", "nann", "nann_rp", "kmedoids_tree", "tdm_untrained", "dr_untrained")


def _cell(row: dict) -> str:
    if not row["reached"]:
        return f"not reached (best {row['best_recall']:.3f})"
    speed = f" · ×{row['speedup']:.1f}" if row.get("speedup") else ""
    return f"{row['evaluations']:,.0f} ({row['share_of_catalogue']:.2%}) · {row['ms']:.2f} ms{speed}"


def markdown(report: dict) -> str:
    cfg = report["config"]
    sizes = sorted({w["n"] for w in report["worlds"]})
    lams = sorted({w["lam"] for w in report["worlds"]})
    lines = ["# Scale study: cost to reach the scorer's exact top-50", "",
             f"Command: `{report.get('command', '')}`  ", f"Machine: {report.get('machine', '')}  ",
             f"Seeds {list(cfg['seeds'])} (each index built and trained once per seed); {cfg['n_queries']} test "
             f"queries; {cfg['n_train']} training queries labelled with the scorer's exact top-{cfg['k']}; "
             f"device for training: {cfg['device']}; total {report.get('total_seconds', 0) / 60:.1f} min"
             + ("." if report.get("finished", True) else " so far — **the run did not finish: sizes below are what it "
                "completed**."), "",
             "Timing: every index, and brute force, searches **one query at a time on one thread** in this one "
             f"process (brute force on the first {cfg['brute_timing_queries']} queries); ms are wall-clock per query. "
             "An *evaluation* is one scorer call on an item or one node-model call on a tree node / lattice code.",
             *([f"", f"**Note.** {report['note']}"] if report.get("note") else []),
             "", "## The worlds", "", "| items | λ | scorer's top-50 shared with the inner product | labelling s |",
             "|---:|---:|---:|---:|"]
    for w in report["worlds"]:
        lines.append(f"| {w['n']:,} | {w['lam']:g} | {w['ip_overlap']:.2f} | {w['label_seconds']:.1f} |")
    table = report["thresholds"]
    for lam in lams:
        for t in cfg["thresholds"]:
            lines += ["", f"## λ = {lam:g}: cost to reach {t:.2f} of the exact top-50",
                      "", "evaluations per query (share of the catalogue) · ms per query · speed-up over brute force "
                      "(fastest setting that reaches it); mean over seeds", "",
                      "| index | " + " | ".join(f"{n:,}" for n in sizes) + " |", "|---|" + "---:|" * len(sizes)]
            for method in [m for m in ORDER if any(r["method"] == m for r in table)]:
                cells = []
                for n in sizes:
                    row = next((r for r in table if r["n"] == n and r["lam"] == lam and r["method"] == method
                                and r["threshold"] == t), None)
                    cells.append(_cell(row) if row else "–")
                lines.append(f"| {method} | " + " | ".join(cells) + " |")
    lines += ["", "## Building the indexes", "", "seconds · peak resident memory added while building (MB) · "
              "index size (MB), mean over seeds", "", "| index | λ | " + " | ".join(f"{n:,}" for n in sizes) + " |",
              "|---|---:|" + "---:|" * len(sizes)]
    builds = _by(report["builds"], "method", "lam", "n")
    for method in [m for m in ORDER if any(b["method"] == m for b in report["builds"])]:
        for lam in lams:
            cells = []
            for n in sizes:
                g = builds.get((method, lam, n))
                cells.append(f"{np.mean([b['seconds'] for b in g]):.1f} s · {np.mean([b['peak_mb'] for b in g]):.0f} · "
                             f"{np.mean([b['index_mb'] for b in g]):.1f}" if g else "–")
            lines.append(f"| {method} | {lam:g} | " + " | ".join(cells) + " |")
    if report.get("equal_budget"):
        lines += ["", "## Learned against untrained, at equal budget", "",
                  "At every setting of the learned index below recall 0.99: its recall minus the best recall the "
                  "untrained one reaches with no more evaluations (the full rows are in report.json).", "",
                  "| items | λ | learned | budgets | mean gain | largest gain (at evaluations) | smallest gain |",
                  "|---:|---:|---|---:|---:|---:|---:|"]
        for (n, lam, method), rows in sorted(_by(report["equal_budget"], "n", "lam", "method").items()):
            rows = [r for r in rows if r["recall"] < 0.99] or rows
            gains = [r["recall"] - r["other_recall"] for r in rows]
            top = rows[int(np.argmax(gains))]
            lines.append(f"| {n:,} | {lam:g} | {method} | {len(rows)} | {np.mean(gains):+.3f} | "
                         f"{max(gains):+.3f} ({top['evaluations']:,.0f}) | {min(gains):+.3f} |")
    lines += ["", "![cost to reach 0.95](scale.png)", "", "[interactive figures](scale.html)", ""]
    return "\n".join(lines)


def save_png(report: dict, path: Path, threshold: float = 0.95) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..viz.scale import SCALE_COLOURS

    lams = sorted({w["lam"] for w in report["worlds"]})
    sizes = sorted({w["n"] for w in report["worlds"]})
    fig, axes = plt.subplots(2, len(lams), figsize=(6.5 * len(lams), 9), squeeze=False)
    rows = [r for r in report["thresholds"] if r["threshold"] == threshold and r["reached"]]
    for col, lam in enumerate(lams):
        ax = axes[0, col]
        for method in [m for m in ORDER if any(r["method"] == m for r in rows)]:
            mine = sorted((r for r in rows if r["method"] == method and r["lam"] == lam), key=lambda r: r["n"])
            ax.plot([r["n"] for r in mine], [r["evaluations"] for r in mine], marker="o", label=method,
                    color=SCALE_COLOURS.get(method), linestyle=":" if "untrained" in method else "-")
        ax.set(xscale="log", yscale="log", xlabel="items", ylabel=f"evaluations per query to reach {threshold}",
               title=f"λ = {lam:g}")
        ax.legend(fontsize=7)
        ax = axes[1, col]
        sweeps = [r for r in report["sweeps"] if r["n"] == sizes[-1] and r["lam"] == lam]
        for method in [m for m in ORDER if any(r["method"] == m for r in sweeps)]:
            front = pareto(mean_curve([r for r in sweeps if r["method"] == method]))
            ax.plot([p["evaluations"] for p in front], [p["recall"] for p in front], marker="o", label=method,
                    color=SCALE_COLOURS.get(method), linestyle=":" if "untrained" in method else "-")
        ax.set(xscale="log", xlabel="evaluations per query", ylabel="recall vs exact top-50", ylim=(0, 1.02),
               title=f"{sizes[-1]:,} items, λ = {lam:g}: Pareto frontiers")
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, lambda fh: fh.write(text.encode("utf-8")))


def write_report(report: dict, out: Path) -> None:
    from ..viz.scale import cost_to_reach_figure, frontier_figure

    out.mkdir(parents=True, exist_ok=True)
    report = {**report, "machine": f"{platform.machine()} · {os.cpu_count()} CPUs · {platform.python_version()}"}
    atomic_write_text(out / "report.json", json.dumps(report, indent=1))
    atomic_write_text(out / "report.md", markdown(report))
    save_png(report, out / "scale.png")
    sizes = sorted({w["n"] for w in report["worlds"]})
    parts = [cost_to_reach_figure(report, t).to_html(include_plotlyjs=i == 0, full_html=False)
             for i, t in enumerate(report["config"]["thresholds"])]
    parts += [frontier_figure(report, sizes[-1], lam).to_html(include_plotlyjs=False, full_html=False)
              for lam in sorted({w["lam"] for w in report["worlds"]})]
    atomic_write_text(out / "scale.html", "<html><body>" + "\n".join(parts) + "</body></html>")
