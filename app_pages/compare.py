"""Compare: the benchmark's table and curves, one user across the four methods, a plain reading."""
import numpy as np
import streamlit as st

from recall_core.i18n import translate

from recall_core.artifacts import ArtifactError
from recall_core.compare import (SIDE_BY_SIDE, find_report, find_scale_report, jaccard_matrix, live_curves, paired_frame,
                                 scale_cost_frame, scale_findings, segment_members, segment_rows, shown_path,
                                 summary_frame)
from recall_core.segments import FEATURES, LEVELS
from recall_core.protocol import count_hits
from recall_core.viz.compare import overlap_heatmap, segment_figure
from recall_core.viz.curves import budget_curve_figure
from recall_core.viz.scale import cost_to_reach_figure, frontier_figure
from recall_core.viz.tables import ranking_frame
from ui.results import model_reports
from ui.state import alert, dataset, device, get_retriever, guard, lang, require_data, t
from ui.widgets import cached_figure, localized_choice, user_picker

COLUMNS = ["precision@10", "recall@10", "f1@10", "recall@50", "ndcg@50", "bruteforce_recall@50", "scored_per_user",
           "ms_per_user", "train_seconds"]
KNOBS = {"two_tower": "ef", "tdm": "beam", "dr": "beam", "nann": "ef0", "nann_plain": "ef0", "sid": "beam"}


def side_by_side_models(name: str) -> dict:
    """The trained models the one-user view runs (loaded once per server)."""
    out = {}
    for method in SIDE_BY_SIDE:
        try:
            out[method] = get_retriever(name, method, 0, device())
        except ArtifactError:
            continue
    return out


PAGES = {"app_pages/two_tower.py": "two-tower", "app_pages/tdm.py": "TDM", "app_pages/dr.py": "DR",
         "app_pages/nann.py": "NANN", "app_pages/sid.py": "SID"}


with guard():
    split = require_data()
    st.title(t("cmp_title"))
    found = find_report(dataset())
    # the stored rows (read once per run): the table without a report, the segments when the report has none
    reports = model_reports(dataset()) if not found or not found[1].get("segments") else {}

    st.subheader(t("cmp_table_header"))
    if found:
        path, report = found
        st.caption(t("cmp_source_report", path=shown_path(path), when=report.get("command", ""), seeds=len(report.get("seeds", []))))
        st.dataframe(summary_frame(report["summary"], COLUMNS), hide_index=True, width="stretch")
        if report.get("paired"):
            st.markdown(t("cmp_paired_header"))
            st.dataframe(paired_frame(report["paired"], report["summary"], lang()), hide_index=True, width="stretch")
        curves = report.get("budget_curves", {})
    else:
        alert("info", t("cmp_source_live"))
        st.dataframe(summary_frame([dict(r, seeds=1) for r in reports.values()], COLUMNS + ["search"]),
                     hide_index=True, width="stretch")
        curves = live_curves(reports, KNOBS)
    if curves:
        st.subheader(t("cmp_budget_header"))
        budget = cached_figure(("cmp_budget", curves, lang()), lambda: budget_curve_figure(
            {m: c["rows"] for m, c in curves.items()}, {m: c["knob"] for m, c in curves.items()},
            {m: c["ceiling"] for m, c in curves.items() if c.get("ceiling") is not None}, lang()))
        st.plotly_chart(budget, width="stretch", key="cmp_budget")
    st.subheader(t("cmp_growth_header"))
    scale = find_scale_report()
    if scale:
        scale_path, scale_report = scale
        cfg = scale_report["config"]
        sizes = sorted({w["n"] for w in scale_report["worlds"]})
        st.caption(t("cmp_scale_caption", path=shown_path(scale_path), cmd=scale_report.get("command", ""),
                     sizes=" / ".join(f"{n:,}" for n in sizes), seeds=list(cfg["seeds"]), queries=cfg["n_queries"]))
        overlap = {w["lam"]: w["ip_overlap"] for w in scale_report["worlds"] if w["n"] == sizes[-1]}
        c1, c2, c3 = st.columns(3)
        lam_value = localized_choice(
            c1.radio, t("cmp_scale_lam"), sorted(overlap), key="cmp_scale_lam", horizontal=True,
            format_func=lambda v, lg: translate("cmp_scale_lam_value", lg, lam=v, kind=translate(
                "cmp_scale_linear", lg) if v == 0 else translate("cmp_scale_nonlinear", lg, share=overlap[v])))
        threshold = c2.radio(t("cmp_scale_threshold"), list(cfg["thresholds"]), index=min(1, len(cfg["thresholds"]) - 1),
                             horizontal=True, key="cmp_scale_threshold", format_func=lambda v: f"{v:.2f}")
        measure = localized_choice(c3.radio, t("cmp_scale_measure"), ["evaluations", "ms"], key="cmp_scale_measure",
                                   horizontal=True, format_func=lambda v, lg: translate(f"cmp_scale_{v}", lg))
        for r in scale_findings(scale_report, lam_value, threshold):
            if not r["reached"]:
                st.markdown("- " + t("cmp_scale_finding_miss", n=r["n"], method=r["method"], t=threshold, best=r["best_recall"]))
            else:
                key = "cmp_scale_finding" if (r.get("speedup") or 0) >= 1 else "cmp_scale_finding_slow"
                st.markdown("- " + t(key, n=r["n"], method=r["method"], t=threshold, share=r["share_of_catalogue"],
                                     speed=r.get("speedup") or 0))
        st.dataframe(scale_cost_frame(scale_report, lam_value, threshold, t("cmp_scale_not_reached")),
                     hide_index=True, width="stretch")
        st.caption(t("cmp_scale_table_caption"))
        report_id = (str(scale_path), scale_path.stat().st_mtime_ns)  # the figures change only with the file
        st.plotly_chart(cached_figure(("cmp_scale_cost", report_id, threshold, measure),
                                      lambda: cost_to_reach_figure(scale_report, threshold, measure)),
                        width="stretch", key="cmp_scale_cost")
        st.markdown(t("cmp_scale_frontier", n=sizes[-1]))
        st.plotly_chart(cached_figure(("cmp_scale_frontier", report_id, sizes[-1], lam_value, measure),
                                      lambda: frontier_figure(scale_report, sizes[-1], lam_value, measure)),
                        width="stretch", key="cmp_scale_frontier")
    else:
        alert("info", t("cmp_scale_missing"))

    st.subheader(t("cmp_segments_header"))
    st.caption(t("cmp_segments_intro"))
    seg_rows = found[1].get("segments") if found else None
    if not seg_rows:
        seg_rows = segment_rows(reports, split)
    if seg_rows:
        left, right = st.columns(2)
        feature = localized_choice(left.selectbox, t("cmp_segment_feature"), list(FEATURES),
                                   lambda f, current: translate(f"seg_{f}", current), "cmp_feature")
        level = localized_choice(right.radio, t("cmp_segment_level"), list(LEVELS),
                                 lambda v, current: translate(f"seg_level_{v}", current), "cmp_level", horizontal=True)
        shown = [r for r in seg_rows if r["feature"] == feature and r["level"] == level]
        if shown:
            st.caption(t("cmp_segment_caption", n=shown[0]["n_users"], low=shown[0]["min"], high=shown[0]["max"]))
            st.plotly_chart(cached_figure(("cmp_segment", seg_rows, feature, level),
                                          lambda: segment_figure(seg_rows, feature, level)),
                            width="stretch", key="cmp_segment")
        members = segment_members(split, feature, level)
        if members:
            pick = st.selectbox(t("cmp_segment_users"), [u for u, _ in members],
                                format_func=lambda u: f"{u} · {dict(members)[u]:.2f}", key="cmp_segment_user")
            for col, (page, method) in zip(st.columns(len(PAGES)), PAGES.items()):
                col.page_link(page, label=t("cmp_segment_jump", method=method), query_params={"user": str(pick)})
    else:
        alert("info", t("cmp_segments_missing"))

    st.subheader(t("cmp_user_header"))
    models = side_by_side_models(dataset())
    missing = [m for m in SIDE_BY_SIDE if m not in models]
    if missing:
        alert("warning", t("cmp_missing_models", methods=", ".join(missing)))
    present = [m for m in SIDE_BY_SIDE if m in models]
    if present:
        row = user_picker(split)
        history, truth, user = split.test.inputs[row], split.test.truths[row], split.test.users[row]
        k = st.slider(t("top_k"), 1, 100, 20, key="cmp_k")
        results = {m: models[m].retrieve([history], k, users=np.array([user])) for m in present}
        for col, method in zip(st.columns(len(present)), present):
            items = results[method].items[0]
            hits = count_hits(items, truth)
            col.markdown(f"**{method}**")
            col.caption(t("cmp_spent", n=int(results[method].n_scored[0]), hits=hits))
            frame = ranking_frame(split.catalogue, items, results[method].scores[0], truth, lang())
            col.dataframe(frame.drop(columns=[frame.columns[2], frame.columns[3]]), hide_index=True, width="stretch",
                          height=420)
        st.markdown(f"**{t('cmp_overlap_header')}**")
        st.plotly_chart(overlap_heatmap(jaccard_matrix({m: r.items[0] for m, r in results.items()})),
                        width="stretch", key="cmp_overlap")

    st.subheader(t("cmp_reading_header"))
    st.markdown(t("cmp_reading"))
