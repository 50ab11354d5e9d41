"""Where data and artifacts live: ``$RECALL_LAB_DATA`` or ``<project>/data``."""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DATA_ENV = "RECALL_LAB_DATA"


def data_root() -> Path:
    root = os.environ.get(DATA_ENV)
    return Path(root).expanduser().resolve() if root else PROJECT_ROOT / "data"
