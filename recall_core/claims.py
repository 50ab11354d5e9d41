"""Plain-words findings written from a benchmark report: the app's claims, never typed by hand.

Each sentence is built from the report's numbers and its paired intervals, so what the
Home and Compare pages say is exactly what the last benchmark measured ("better" only
when the interval over test users excludes 0).
"""
from __future__ import annotations

import numpy as np

from .i18n import translate

NAMES = {"two_tower": "two-tower", "tdm": "TDM", "dr": "DR", "nann": "NANN", "nann_plain": "NANN (no adversarial)",
         "item_cf": "item-CF", "popular": "popularity", "sid": "semantic IDs"}


def _name(method: str) -> str:
    return NAMES.get(method, method)


def real_data_findings(report: dict, lang: str = "en") -> list[str]:
    """One sentence per learned method: its recall@50 and ceiling against the two-tower, with the verdicts."""
    by = {s["method"]: s for s in report.get("summary", [])}
    paired = report.get("paired", {})
    if "two_tower" not in by:
        return []
    out = [translate("claim_baseline", lang, dataset=report["dataset"], users=report["n_test_users"],
                     seeds=len(report.get("seeds", [])), tt=by["two_tower"]["recall@50"],
                     cf=by.get("item_cf", {}).get("recall@50", float("nan")))]
    for method in ("tdm", "dr", "nann", "sid"):
        if method not in by or method not in paired:
            continue
        d = paired[method]
        out.append(translate(
            "claim_method", lang, method=_name(method), r=by[method]["recall@50"],
            ceiling=by[method].get("bruteforce_recall@50", float("nan")),
            diff=d["index"]["mean"], low=d["index"]["low"], high=d["index"]["high"],
            verdict=translate(f"verdict_{d['index']['verdict'].replace(' ', '_')}", lang),
            cdiff=d["ceiling"]["mean"], clow=d["ceiling"]["low"], chigh=d["ceiling"]["high"],
            cverdict=translate(f"verdict_{d['ceiling']['verdict'].replace(' ', '_')}", lang),
            ratio=by[method].get("index_over_ceiling", float("nan"))))
    return out


def world_table(rows: list[dict]) -> dict[str, dict[float, tuple[float, float]]]:
    """method -> knob -> (mean, std) of recall@50 over seeds."""
    table: dict[str, dict[float, tuple[float, float]]] = {}
    for method in dict.fromkeys(r["method"] for r in rows):
        for knob in sorted({r["knob"] for r in rows if r["method"] == method}):
            values = [r["recall@50"] for r in rows if r["method"] == method and r["knob"] == knob]
            table.setdefault(method, {})[knob] = (float(np.mean(values)), float(np.std(values)))
    return table


def world_findings(rows: list[dict], lang: str = "en") -> list[str]:
    """How each method's recall moves from the near end (inner product suffices) to the far end of the knob."""
    table = world_table(rows)
    out = []
    for method, by_knob in table.items():
        knobs = sorted(by_knob)
        if len(knobs) < 2:
            continue
        (near, near_sd), (far, far_sd) = by_knob[knobs[0]], by_knob[knobs[-1]]
        out.append(translate("claim_world", lang, method=_name(method), near_knob=knobs[0], far_knob=knobs[-1],
                             near=near, near_sd=near_sd, far=far, far_sd=far_sd, change=far - near))
    return out
