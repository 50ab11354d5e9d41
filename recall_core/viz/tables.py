"""Tables the pages show (pure: arrays in, DataFrame out)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..data import Catalogue
from ..i18n import translate


def history_frame(catalogue: Catalogue, items: np.ndarray, lang: str = "zh") -> pd.DataFrame:
    items = np.asarray(items, dtype=np.int64)
    return pd.DataFrame({
        "#": np.arange(1, len(items) + 1),
        translate("col_title", lang): [catalogue.titles[i] for i in items],
        translate("col_genres", lang): [catalogue.genre_label(i, ", ") for i in items],
    })


def ranking_frame(catalogue: Catalogue, items: np.ndarray, scores: np.ndarray, truth: np.ndarray,
                  lang: str = "zh") -> pd.DataFrame:
    """Ranked list with titles, scores and a hit mark against the held-out half."""
    items = np.asarray(items, dtype=np.int64)
    keep = items >= 0
    items, scores = items[keep], np.asarray(scores)[keep]
    return pd.DataFrame({
        translate("col_rank", lang): np.arange(1, len(items) + 1),
        translate("col_title", lang): [catalogue.titles[i] for i in items],
        translate("col_genres", lang): [catalogue.genre_label(i, ", ") for i in items],
        translate("col_score", lang): np.round(scores.astype(float), 4),
        translate("col_hit", lang): ["✅" if hit else "" for hit in np.isin(items, truth)],
    })
