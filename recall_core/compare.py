"""What the Compare page needs besides figures: the latest benchmark report and overlaps."""
from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd

from .paths import PROJECT_ROOT, data_root
from .segments import segment_table, segment_users

SIDE_BY_SIDE = ["two_tower", "tdm", "dr", "nann", "sid"]  # "one user, five methods" and the segment view


def report_locations() -> list[Path]:
    return [data_root() / "bench" / "latest" / "report.json", PROJECT_ROOT / "bench" / "latest" / "report.json"]


def shown_path(path: Path) -> str:
    """A report's path as a reader wants it: relative to the project when it lies inside."""
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT.resolve()))
    except ValueError:
        return str(path)


def read_report(path: Path):
    """A report file's JSON, parsed once per version of the file (its size and modification time): the Compare
    page asks on every run.  Callers share the result and must not change it.  Raises OSError / ValueError."""
    stat = path.stat()
    return _parsed(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _parsed(path: str, mtime_ns: int, size: int):
    return json.loads(Path(path).read_text())


def find_report(dataset: str) -> tuple[Path, dict] | None:
    """The newest readable benchmark report for ``dataset`` (a user's own run first, then the shipped one)."""
    for path in report_locations():
        try:
            report = read_report(path)
        except (OSError, ValueError):
            continue
        if report.get("dataset") == dataset and report.get("summary"):
            return path, report
    return None


QUALITY_PREFIXES = ("precision", "recall", "f1", "ndcg", "hitrate", "bruteforce")
SEARCH_COLUMN = "search (validation)"  # a row's "search": the index's setting, chosen on validation users


def summary_frame(summary: list[dict], columns: list[str]) -> pd.DataFrame:
    """Quality cells as mean ± std when there are several seeds ("—" when missing); costs as plain numbers
    (None when missing, e.g. a baseline's training time, so that the column stays numeric for Arrow)."""
    rows = []
    for s in summary:
        row = {"method": s["method"]}
        for key in columns:
            if key == "search":  # the index's setting (chosen on validation users)
                row[SEARCH_COLUMN] = setting_text(s.get(key))
            elif s.get(key) is None:  # a quality column holds text; a cost column stays numeric (an empty cell)
                row[key] = "—" if key.startswith(QUALITY_PREFIXES) else None
            elif key.startswith(QUALITY_PREFIXES):
                spread = f" ± {s[key + '_std']:.3f}" if s.get("seeds", 1) > 1 and key + "_std" in s else ""
                row[key] = f"{s[key]:.3f}{spread}"
            else:
                row[key] = round(float(s[key]), 2)
        rows.append(row)
    return pd.DataFrame(rows)


def paired_frame(paired: dict, summary: list[dict], lang: str = "en") -> pd.DataFrame:
    """Per method: the paired per-user difference to the two-tower (index and ceiling) with its 95% interval
    and verdict, and the search setting chosen on validation for each seed."""
    from .i18n import translate

    settings = {s["method"]: s.get("search_per_seed", []) for s in summary}
    fmt = lambda d: f"{d['mean']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]"
    verdict = lambda d: translate(f"verdict_{d['verdict'].replace(' ', '_')}", lang)
    rows = [{"method": m, "index − two-tower": fmt(d["index"]), "verdict (index)": verdict(d["index"]),
             "ceiling − two-tower": fmt(d["ceiling"]), "verdict (ceiling)": verdict(d["ceiling"]),
             "setting (validation)": ", ".join(" ".join(f"{k}={v}" for k, v in c.items()) for c in settings.get(m, [])
                                               if c) or "—"}
            for m, d in paired.items()]
    return pd.DataFrame(rows)


def jaccard_matrix(lists: dict[str, np.ndarray]) -> pd.DataFrame:
    names = list(lists)
    sets = {n: set(np.asarray(v)[np.asarray(v) >= 0].tolist()) for n, v in lists.items()}
    data = [[len(sets[a] & sets[b]) / max(len(sets[a] | sets[b]), 1) for b in names] for a in names]
    return pd.DataFrame(data, index=names, columns=names)


def segment_rows(reports: dict[str, dict], split) -> list[dict]:
    """The per-segment table (seed 0, test users) from stored evaluations (``methods.store_evaluation``: each
    row has every test user's recall@50) when no benchmark report has one; [] without the two-tower's row."""
    key = "per_user_recall@50"
    per_user = {m: np.asarray(r[key]) for m, r in reports.items() if m in SIDE_BY_SIDE and key in r}
    return segment_table(per_user, segment_users(split, split.test)) if "two_tower" in per_user else []


def live_curves(reports: dict[str, dict], knobs: dict[str, str]) -> dict[str, dict]:
    """Budget curves recorded in each model's training log on validation users, each with its brute-force
    ceiling on the same validation users (``methods.validation_search``; none when a row lacks it)."""
    curves = {}
    for method, report in reports.items():
        if method in knobs and report.get("budget_curve"):
            ceiling = (report.get("validation_search") or {}).get("valid_ceiling")
            curves[method] = {"knob": knobs[method], "rows": report["budget_curve"], "ceiling": ceiling}
    return curves


def setting_text(search: dict | None) -> str:
    """A search setting as the tables write it: ``ef0=75 steps0=8`` ("—" without one)."""
    return " ".join(f"{key}={value}" for key, value in (search or {}).items()) or "—"


def segment_members(split, feature: str, level: str) -> list[tuple[int, float]]:
    """(MovieLens user id, feature value) of the test users in one segment, most typical first
    (closest to the segment's median)."""
    segments = segment_users(split, split.test)
    rows = segments.members(feature, level)
    values = segments.features[feature][rows]
    order = np.argsort(np.abs(values - np.median(values)), kind="stable") if len(values) else []
    return [(int(split.raw_users[split.test.users[rows[i]]]), float(values[i])) for i in order]


def scale_report_locations() -> list[Path]:
    return [data_root() / "bench" / "scale" / "report.json", PROJECT_ROOT / "bench" / "scale" / "report.json"]


def find_scale_report() -> tuple[Path, dict] | None:
    """The scale study's report (``python -m recall_core.scale``): a user's own run first, then the shipped one."""
    for path in scale_report_locations():
        try:
            report = read_report(path)
        except (OSError, ValueError):
            continue
        if isinstance(report, dict) and report.get("thresholds") and report.get("worlds"):
            return path, report
    return None


def scale_cost_frame(report: dict, lam: float, threshold: float, not_reached: str) -> pd.DataFrame:
    """Indexes x catalogue sizes: evaluations per query (share of the catalogue), ms and speed-up over brute
    force at the cheapest setting reaching ``threshold`` of the exact top-50; else the best recall reached."""
    sizes = sorted({w["n"] for w in report["worlds"] if w["lam"] == lam})
    rows = [r for r in report["thresholds"] if r["lam"] == lam and r["threshold"] == threshold]
    table = []
    for method in dict.fromkeys(r["method"] for r in rows):
        line = {"index": method}
        for n in sizes:
            r = next((x for x in rows if x["method"] == method and x["n"] == n), None)
            if r is None:
                line[f"{n:,}"] = "—"
            elif r["reached"]:
                speed = f" · ×{r['speedup']:.1f}" if r.get("speedup") else ""
                line[f"{n:,}"] = f"{r['evaluations']:,.0f} ({r['share_of_catalogue']:.1%}) · {r['ms']:.1f} ms{speed}"
            else:
                line[f"{n:,}"] = not_reached.format(best=r["best_recall"])
        table.append(line)
    return pd.DataFrame(table)


def scale_findings(report: dict, lam: float, threshold: float) -> list[dict]:
    """At the largest size: each index's share of the catalogue and speed-up to reach ``threshold``, cheapest
    first (the page words them; nothing is written by hand)."""
    rows = [r for r in report["thresholds"] if r["lam"] == lam and r["threshold"] == threshold]
    if not rows:
        return []
    largest = max(r["n"] for r in rows)
    mine = [r for r in rows if r["n"] == largest and r["method"] != "brute_force"]
    return sorted(mine, key=lambda r: (not r["reached"], r.get("evaluations") or 0, -r["best_recall"]))
