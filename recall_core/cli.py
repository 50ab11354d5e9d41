"""What the train / evaluate / bench commands share: arguments, data loading, errors."""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from contextlib import contextmanager

from tqdm import tqdm

from .artifacts import ArtifactError
from .data import Split, SplitConfig, load_split
from .methods import MethodError, default_config, get_spec
from .movielens import RELEASES, DataError
from .paths import DATA_ENV
from .training import DeviceError
from .worlds import CATALOGUES, WORLD


def base_parser(description: str, methods: list[str]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--dataset", default="ml-100k",
                   help=f"one of: {', '.join(RELEASES)}; or a constructed dataset (generated, no download): "
                        f"{WORLD}@<knob in [0, 1]>[,seed=N] or {'|'.join(CATALOGUES)}[,seed=N] (see recall_core/worlds.py)")
    p.add_argument("--method", default="two_tower", help=f"one of: {', '.join(methods)}")
    p.add_argument("--data-dir", help=f"data and artifact root (default ${DATA_ENV} or ./data)")
    p.add_argument("--source", help="a local MovieLens folder or zip to use instead of downloading")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, help="override the method's default number of epochs")
    return p


def apply_data_dir(args) -> None:
    if args.data_dir:
        os.environ[DATA_ENV] = os.path.abspath(args.data_dir)


def expand_methods(name: str, all_methods: list[str]) -> list[str]:
    if name == "all":
        return all_methods
    for m in name.split(","):
        get_spec(m)
    return name.split(",")


def config_for(method: str, epochs: int | None, dataset: str | None = None):
    cfg = default_config(method, dataset)
    if cfg is None:
        return None
    if epochs is not None and hasattr(cfg, "epochs"):
        cfg = dataclasses.replace(cfg, epochs=epochs)
    return cfg


def load_data(args) -> Split:
    bar = None

    def download_progress(done: int, total: int | None) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="B", unit_scale=True, desc=f"download {args.dataset}", file=sys.stderr)
        bar.update(done - bar.n)

    try:
        return load_split(args.dataset, SplitConfig(), source=args.source, progress=download_progress)
    finally:
        if bar is not None:
            bar.close()


@contextmanager
def training_bar(label: str, enabled: bool = True):
    if not enabled:
        yield None
        return
    bar = tqdm(total=100, desc=label, file=sys.stderr, bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}")

    def progress(fraction: float, message: str) -> None:
        bar.n = int(100 * min(max(fraction, 0.0), 1.0))
        bar.set_postfix_str(message, refresh=True)

    try:
        yield progress
    finally:
        bar.close()


def run_cli(main) -> None:
    """Turn the errors a user can cause into one clear line and exit status 2."""
    try:
        sys.exit(main())
    except (DataError, MethodError, DeviceError, ArtifactError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted; artifacts on disk are unchanged", file=sys.stderr)
        sys.exit(130)
