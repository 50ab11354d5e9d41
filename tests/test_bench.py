"""The benchmark CLI end to end on a small slice, the compare helpers."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recall_core.compare import jaccard_matrix, summary_frame


def test_compare_helpers():
    m = jaccard_matrix({"a": np.array([1, 2, 3, -1]), "b": np.array([2, 3, 4, 5])})
    assert m.loc["a", "a"] == 1.0 and m.loc["a", "b"] == pytest.approx(2 / 5)
    frame = summary_frame([{"method": "x", "seeds": 3, "recall@50": 0.3, "recall@50_std": 0.01, "ms_per_user": 1.234}],
                          ["recall@50", "ms_per_user", "ndcg@50", "train_seconds"])
    assert frame.loc[0, "recall@50"] == "0.300 ± 0.010" and frame.loc[0, "ms_per_user"] == 1.23
    assert frame.loc[0, "ndcg@50"] == "—" and pd.isna(frame.loc[0, "train_seconds"])
    import pyarrow

    pyarrow.Table.from_pandas(frame)  # what st.dataframe needs: no column mixes text and numbers


@pytest.mark.slow
def test_bench_cli_writes_the_report(data_root, trained, tmp_path):
    from recall_core.bench import main

    trained("two_tower")
    out = tmp_path / "bench"
    assert main(["--dataset", "ml-100k", "--out", str(out), "--seeds", "0", "--methods", "popular,two_tower",
                 "--world-knobs", ""]) == 0
    report = json.loads((out / "report.json").read_text())
    assert [s["method"] for s in report["summary"]] == ["popular", "two_tower"]
    assert report["budget_curves"]["two_tower"]["knob"] == "ef"
    assert "cost_growth" not in report and "python -m recall_core.scale" in (out / "report.md").read_text()
    for name in ("report.md", "budget_curves.png", "budget_curves.html"):
        assert (out / name).stat().st_size > 0
    assert "| two_tower |" in (out / "report.md").read_text()
    text = (out / "report.md").read_text()
    assert "of 1 models trained in this run" in text and "chosen on validation" in text
    tt = next(r for r in report["rows"] if r["method"] == "two_tower")
    assert tt["search"]["ef"] in (16, 32, 64, 128, 256) and len(tt["per_user_recall@50"]) == report["n_test_users"]
    assert report["valid_standard_error"] <= 0.01 and report["segments"]


def test_report_details_show_the_dr_alpha_sweep():
    from recall_core.bench import _details

    report = {"summary": [{"method": "nann", "recall_vs_bruteforce@50": 0.97, "hnsw_rule_recall@50": 0.385,
                           "hnsw_rule_scored_per_user": 201.0}],
              "rows": [{"method": "dr", "seed": 0, "K": 10, "D": 3, "alpha_sweep": [
                  {"alpha": 0.0, "non_empty_paths": 155, "largest_path": 702, "gini": 0.88}]}]}
    text = "\n".join(_details(report))
    assert "non-empty paths of 1000" in text and "| 0 | 155 / 702 / 0.88 |" in text and "97.0%" in text


def test_report_tables_show_validation_choices_and_paired_intervals():
    from recall_core.bench import _paired_table, _settings_table

    curve = [{"beam": 5, "recall@50": 0.36, "scored_per_user": 200.0}, {"beam": 10, "recall@50": 0.372,
                                                                          "scored_per_user": 300.0}]
    report = {"rows": [{"method": "dr", "seed": 0, "recall@50": 0.381, "validation": {
        "knob": "beam", "setting": {"beam": 10}, "curve": curve, "valid_ceiling": 0.374}}],
        "paired": {"dr": {"index": {"mean": -0.012, "low": -0.03, "high": 0.004, "verdict": "within noise"},
                          "ceiling": {"mean": 0.02, "low": 0.005, "high": 0.035, "verdict": "better"}}}}
    settings = "\n".join(_settings_table(report))
    assert "| dr | 0 | beam | 10 | 0.372 | 0.374 | 0.381 |" in settings
    paired = "\n".join(_paired_table(report))
    assert "| dr | -0.012 [-0.030, +0.004] | within noise | +0.020 [+0.005, +0.035] | better |" in paired


def test_paired_to_baseline_reads_per_user_rows():
    from recall_core.bench import paired_to_baseline

    rows = [{"method": "two_tower", "per_user_recall@50": [0.1, 0.2, 0.3], "per_user_bruteforce_recall@50": [0.1, 0.2, 0.3]},
            {"method": "x", "per_user_recall@50": [0.2, 0.3, 0.4], "per_user_bruteforce_recall@50": [0.1, 0.2, 0.3]}]
    out = paired_to_baseline(rows)
    assert out["x"]["index"]["mean"] == pytest.approx(0.1) and out["x"]["index"]["verdict"] == "better"
    assert out["x"]["ceiling"]["mean"] == pytest.approx(0.0) and out["x"]["ceiling"]["verdict"] == "within noise"


def test_report_path_is_shown_relative_to_the_project(tmp_path):
    from recall_core.compare import shown_path
    from recall_core.paths import PROJECT_ROOT

    assert shown_path(PROJECT_ROOT / "bench" / "latest" / "report.json") == "bench/latest/report.json"
    assert shown_path(tmp_path / "report.json") == str(tmp_path / "report.json")


def test_reports_are_parsed_once_per_version_of_the_file(tmp_path):
    """The Compare page reads the reports on every run: a file is parsed again only when it changes."""
    import os

    from recall_core.compare import read_report

    path = tmp_path / "report.json"
    path.write_text(json.dumps({"dataset": "a"}))
    first = read_report(path)
    assert first == {"dataset": "a"} and read_report(path) is first  # the same object: not parsed again
    path.write_text(json.dumps({"dataset": "bb"}))  # a new version (another size)
    os.utime(path, ns=(1, 1))
    assert read_report(path) == {"dataset": "bb"}
    path.write_text("{broken")
    with pytest.raises(ValueError):
        read_report(path)
    path.unlink()
    with pytest.raises(OSError):
        read_report(path)


def test_paired_frame_shows_intervals_verdicts_and_chosen_settings():
    from recall_core.compare import paired_frame

    paired = {"dr": {"index": {"mean": -0.012, "low": -0.03, "high": 0.004, "verdict": "within noise"},
                     "ceiling": {"mean": 0.02, "low": 0.005, "high": 0.035, "verdict": "better"}}}
    summary = [{"method": "dr", "search_per_seed": [{"beam": 10}, {"beam": 5}]}]
    frame = paired_frame(paired, summary, "en")
    row = frame.iloc[0]
    assert row["index − two-tower"] == "-0.012 [-0.030, +0.004]" and row["verdict (ceiling)"].startswith("better")
    assert row["setting (validation)"] == "beam=10, beam=5"


def test_combine_reports_checks_the_data_and_joins_rows(tmp_path, synthetic):
    from recall_core.bench import combine_reports

    a, b = tmp_path / "a.json", tmp_path / "b.json"
    base = {"dataset": synthetic.name, "n_test_users": len(synthetic.test)}
    a.write_text(json.dumps({**base, "rows": [{"method": "x", "seed": 0}], "budget_curves": {"x": {"knob": "beam"}}}))
    b.write_text(json.dumps({**base, "rows": [{"method": "y", "seed": 0}], "budget_curves": {}}))
    rows, curves = combine_reports([a, b], synthetic)
    assert [r["method"] for r in rows] == ["x", "y"] and list(curves) == ["x"]
    b.write_text(json.dumps({**base, "profile": "quick", "rows": [{"method": "y", "seed": 0, "train_seconds": 9.0},
                                                                   {"method": "popular", "seed": 0, "train_seconds": 0}]}))
    rows, _ = combine_reports([a, b], synthetic)  # each row keeps the profile it was trained with
    assert [r["profile"] for r in rows] == [None, "quick", "quick"]
    from recall_core.bench import _other_profiles

    assert _other_profiles({"profile": "full", "rows": rows}) == " (y trained with profile `quick`)"
    assert _other_profiles({"profile": "quick", "rows": rows}) == ""
    b.write_text(json.dumps({"dataset": "ml-1m", "n_test_users": 1, "rows": []}))
    with pytest.raises(ValueError):
        combine_reports([a, b], synthetic)


def test_combine_world_sweeps_joins_seeds_of_separate_runs(tmp_path):
    from recall_core.bench import combine_world_sweeps, _world_lines

    def row(knob, seed, method, recall, dim=16):
        return {"knob": knob, "seed": seed, "method": method, "recall@50": recall, "two_tower_dim": dim}

    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({"world_sweep": [row(0.0, 0, "item_cf", 0.8), row(0.0, 0, "tdm", 0.7),
                                             row(1.0, 0, "item_cf", 0.6), row(1.0, 0, "tdm", 0.5),
                                             row(0.0, 1, "item_cf", 0.9), row(1.0, 1, "item_cf", 0.1)]}))
    b.write_text(json.dumps({"world_sweep": [row(1.0, 1, "item_cf", 0.4)]}))  # a later run re-made this row
    fresh = [row(0.0, 2, "tdm", 0.3), row(0.0, 2, "item_cf", 0.2)]
    rows = combine_world_sweeps([a, b], fresh)
    assert [(r["seed"], r["knob"], r["method"]) for r in rows] == [
        (0, 0.0, "item_cf"), (0, 0.0, "tdm"), (0, 1.0, "item_cf"), (0, 1.0, "tdm"),
        (1, 0.0, "item_cf"), (1, 1.0, "item_cf"), (2, 0.0, "item_cf"), (2, 0.0, "tdm")]
    assert next(r for r in rows if (r["seed"], r["knob"]) == (1, 1.0))["recall@50"] == 0.4  # the later row wins
    # the report's world table averages the three seeds: item_cf at knob 0 = mean(0.8, 0.9, 0.2)
    table = "\n".join(_world_lines({"world_sweep": rows}))
    assert f"| 0 | {np.mean([0.8, 0.9, 0.2]):.3f} ± {np.std([0.8, 0.9, 0.2]):.3f} |" in table
    assert "seeds [0, 1, 2]" in table
    assert combine_world_sweeps([tmp_path / "a.json"]) == json.loads(a.read_text())["world_sweep"]
    b.write_text(json.dumps({"world_sweep": [row(0.0, 3, "tdm", 0.3, dim=32)]}))
    with pytest.raises(ValueError, match="two-tower dimensions"):
        combine_world_sweeps([a, b])
    b.write_text(json.dumps({"dataset": "ml-100k", "rows": []}))  # a report without a sweep adds nothing
    assert len(combine_world_sweeps([a, b])) == 6


@pytest.mark.slow
def test_first_run_benchmark_times_training_and_compares_recall(data_root, trained, tmp_path):
    """scripts/first_run.py on one model: trained afresh in its own folder, timed, evaluated, and compared with
    the same model already trained in the data root (the same seed and code: the same recall)."""
    import sys

    from conftest import ROOT

    sys.path.insert(0, str(ROOT / "scripts"))
    from first_run import main

    reference = trained("two_tower")
    out = tmp_path / "out"
    assert main(["--methods", "two_tower", "--seeds", "0", "--reference-data-dir", str(data_root),
                 "--work-dir", str(tmp_path / "work"), "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    row, ref, line = report["rows"][0], report["reference"][0], report["summary"][0]
    assert row["method"] == ref["method"] == "two_tower" and row["seconds"] > 0 and ref["seconds"] is None
    assert (tmp_path / "work" / "artifacts" / "ml-100k" / "two_tower-seed0.pt").exists()
    assert 0.2 < ref["recall@50"] <= 1.0 and reference is not None
    assert line["within_tolerance"] is (line["recall@50"] >= line["reference_recall@50"] - 0.01)
    assert abs(row["recall@50"] - ref["recall@50"]) < 0.01  # same code, same seed
    assert "| two_tower |" in (out / "report.md").read_text()


def test_first_run_reference_rows_come_from_a_committed_report(tmp_path):
    """--reference-report: the per-seed test figures of a benchmark report, for the seeds and models asked
    (a fresh machine has no earlier models to evaluate); a report on another dataset is refused."""
    import sys

    from conftest import ROOT

    sys.path.insert(0, str(ROOT / "scripts"))
    from first_run import reference_rows, summarise

    rows = [{"method": m, "seed": s, "recall@50": 0.4 + s / 100, "bruteforce_recall@50": 0.41, "train_seconds": 9}
            for m in ("tdm", "popular") for s in (0, 1, 2, 3)]
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"dataset": "ml-100k", "rows": rows}))
    ref = reference_rows(path, "ml-100k", [0, 1, 2], ["tdm", "dr"])
    assert [(r["method"], r["seed"]) for r in ref] == [("tdm", 0), ("tdm", 1), ("tdm", 2)]
    assert all(r["seconds"] is None for r in ref)
    mine = [{"method": "tdm", "seed": s, "seconds": 5.0, "recall@50": 0.395, "bruteforce_recall@50": 0.4}
            for s in (0, 1, 2)]
    line = summarise(mine, ref)[0]
    assert abs(line["reference_recall@50"] - 0.41) < 1e-9 and line["within_tolerance"] is False  # 0.395 < 0.41 - 0.01
    with pytest.raises(SystemExit, match="ml-1m"):
        reference_rows(path, "ml-1m", [0], ["tdm"])
