"""python -m recall_core.train --dataset ml-100k --method {two_tower,...,all}"""
from __future__ import annotations

import json

from .cli import apply_data_dir, base_parser, config_for, expand_methods, load_data, run_cli, training_bar
from .methods import LEARNED, artifact_status, load_or_train
from .protocol import evaluate


def main(argv=None) -> int:
    p = base_parser("Train retrieval models and save them under the data root.", LEARNED + ["all"])
    p.add_argument("--if-missing", action="store_true", help="keep models that are already trained and current")
    args = p.parse_args(argv)
    apply_data_dir(args)
    methods = [m for m in expand_methods(args.method, LEARNED) if m in LEARNED]
    split = load_data(args)
    for method in methods:
        cfg = config_for(method, args.epochs, split.name)
        fresh = args.if_missing and artifact_status(split, method, args.seed, config=cfg) == "ready"
        with training_bar(f"{method}") as progress:
            retriever = load_or_train(split, method, args.seed, args.device, cfg, progress, retrain=not fresh)
        report = evaluate(retriever, split, held=split.valid)
        summary = {"method": method, "valid_recall@50": round(report["recall@50"], 4),
                   "train_seconds": round(retriever.log.get("wall_seconds", float("nan")), 1),
                   "device": retriever.log.get("device")}
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    run_cli(main)
