"""python -m recall_core.scale --max-items 1000000 --out bench/scale"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from .report import write_report
from .study import REGISTRY, StudyConfig, run_study


def parse_list(text: str, kind=int) -> tuple:
    return tuple(kind(x) for x in text.split(",") if x.strip())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(prog="python -m recall_core.scale", description=__doc__.strip() + (
        "\n\nFor one scorer, how many evaluations and how much time each index needs to reach 0.90 / 0.95 / 0.99 "
        "of the scorer's exact top-50 as the catalogue grows."), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--max-items", type=int, default=1_000_000, help="largest catalogue (sizes are 10^3 .. this)")
    p.add_argument("--sizes", default="", help="explicit comma-separated sizes (overrides --max-items)")
    p.add_argument("--lams", default="0,1", help="weights of the scorer's non-linear part (0 = inner product)")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--methods", default=",".join(StudyConfig.methods))
    p.add_argument("--queries", type=int, default=200, help="test queries per size")
    p.add_argument("--train-queries", type=int, default=2000, help="training queries (labelled by the scorer)")
    p.add_argument("--device", default="cpu", help="where the learned indexes train (cpu / cuda)")
    p.add_argument("--out", default="bench/scale")
    p.add_argument("--render", action="store_true", help="only rewrite report.md / PNG / HTML from --out's report.json")
    args = p.parse_args(argv)
    if args.render:
        import json

        try:
            report = json.loads((Path(args.out) / "report.json").read_text())
        except (OSError, ValueError) as exc:
            p.error(f"cannot read {args.out}/report.json: {exc}")
        write_report(report, Path(args.out))
        print(f"rewrote {args.out}/report.md")
        return 0
    sizes = parse_list(args.sizes) or tuple(10 ** e for e in range(3, 7) if 10 ** e <= args.max_items)
    methods = parse_list(args.methods, str)
    unknown = [m for m in methods if m not in REGISTRY]
    if unknown or not sizes or min(sizes) < 100 or args.queries < 1 or args.train_queries < 10:
        p.error(f"unknown methods {unknown}" if unknown else "sizes must be >= 100 items, queries >= 1, "
                "training queries >= 10")
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            p.error("--device cuda asked for, but no CUDA device is visible")
    cfg = StudyConfig(sizes=sizes, lams=parse_list(args.lams, float), seeds=parse_list(args.seeds), methods=methods,
                      n_queries=args.queries, n_train=args.train_queries, device=args.device)
    start = time.perf_counter()
    command = "python -m recall_core.scale " + " ".join(shlex.quote(a) for a in argv)

    def save(result, finished: bool = False) -> None:
        report = {**result.to_json(), "command": command, "total_seconds": time.perf_counter() - start,
                  "finished": finished}
        write_report(report, Path(args.out))

    result = run_study(cfg, progress=lambda msg: print(f"[{time.perf_counter() - start:7.1f} s] {msg}", flush=True),
                       checkpoint=save)
    save(result, finished=True)
    print(f"wrote {args.out}/report.md ({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
