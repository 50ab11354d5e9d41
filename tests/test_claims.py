"""The app's plain-words claims are written from the report's numbers and verdicts."""
from __future__ import annotations

import pytest

from recall_core.claims import real_data_findings, world_findings, world_table

REPORT = {
    "dataset": "ml-100k", "n_test_users": 150, "seeds": [0, 1, 2],
    "summary": [{"method": "two_tower", "recall@50": 0.404}, {"method": "item_cf", "recall@50": 0.363},
                {"method": "nann", "recall@50": 0.410, "bruteforce_recall@50": 0.412, "index_over_ceiling": 0.995}],
    "paired": {"nann": {"index": {"mean": 0.006, "low": -0.004, "high": 0.016, "verdict": "within noise"},
                        "ceiling": {"mean": 0.012, "low": 0.002, "high": 0.022, "verdict": "better"}}},
}


def test_real_data_findings_carry_numbers_and_verdicts():
    text = real_data_findings(REPORT, "en")
    assert text[0] == "On ml-100k (150 test users, 3 seeds): two-tower recall@50 = 0.404, item-CF = 0.363."
    assert "NANN: recall@50 = 0.410" in text[1] and "[-0.004, +0.016]: within noise" in text[1]
    assert "+0.012 [+0.002, +0.022]: better" in text[1] and "99.5%" in text[1]
    assert len(real_data_findings(REPORT, "zh")) == 2 and real_data_findings({"summary": []}) == []


def test_world_findings_from_the_sweep():
    rows = [{"method": m, "knob": k, "seed": s, "recall@50": r + 0.01 * s}
            for m, values in (("two_tower", (0.5, 0.2)), ("nann", (0.5, 0.45))) for k, r in zip((0.0, 1.0), values)
            for s in (0, 1, 2)]
    table = world_table(rows)
    assert round(table["two_tower"][1.0][0], 3) == 0.21
    text = world_findings(rows, "en")
    assert text[0].startswith("two-tower: recall@50 0.510 ± 0.008 at knob 0") and "(change -0.300)" in text[0]
    assert "(change -0.050)" in text[1]


def test_world_figure_one_line_per_method_with_seed_spread():
    from recall_core.viz.home import world_figure

    rows = [{"method": m, "knob": k, "seed": s, "recall@50": 0.5 - (0.3 * k if m == "two_tower" else 0) + 0.01 * s}
            for m in ("two_tower", "nann") for k in (0.0, 0.5, 1.0) for s in (0, 1)]
    for lang in ("zh", "en"):
        fig = world_figure(rows, lang)
        assert [tr.name for tr in fig.data] == ["two-tower", "NANN"]
        assert list(fig.data[0].x) == [0.0, 0.5, 1.0] and fig.data[0].y[2] < fig.data[1].y[2]
        assert list(fig.data[0].error_y.array) == pytest.approx([0.005, 0.005, 0.005])
    assert "synthetic" in world_figure(rows, "en").layout.title.text and "合成" in world_figure(rows, "zh").layout.title.text
