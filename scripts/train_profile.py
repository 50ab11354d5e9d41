"""Where a method's training time goes: python scripts/train_profile.py --method tdm [--quick] [--top 25]

Trains one model on ml-100k (seed 0, CPU; nothing is saved, no artifact is replaced) under cProfile and
prints the wall time and the functions with the largest cumulative time.  Issue 13 §1 asks for this profile
before and after each speed-up; the README quotes its figures.
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", default="tdm")
    ap.add_argument("--dataset", default="ml-100k")
    ap.add_argument("--quick", action="store_true", help="the quick profile (RECALL_LAB_PROFILE=quick)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args(argv)
    if args.quick:
        os.environ["RECALL_LAB_PROFILE"] = "quick"
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from recall_core.data import load_split
    from recall_core.methods import default_config, get_spec

    split = load_split(args.dataset)
    spec, cfg = get_spec(args.method), default_config(args.method, args.dataset)
    if cfg is None:
        ap.error(f"{args.method} has nothing to train")
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    model = spec.train(split, cfg, 0, torch.device("cpu"), None)
    profiler.disable()
    wall = time.perf_counter() - start
    log = getattr(model, "log", None) or {}
    print(f"{args.method} ({'quick' if args.quick else 'default'} profile) trained in {wall:.1f} s wall "
          f"({torch.get_num_threads()} torch threads); epochs {log.get('train_seconds', float('nan')):.1f} s "
          f"of it by the training log")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
