"""python -m recall_core.evaluate --dataset ml-100k --method two_tower --json

Loads (or trains, when missing or stale) each method and prints its report on the
test users: one JSON object per line with --json, a table otherwise.
"""
from __future__ import annotations

import json

from .cli import apply_data_dir, base_parser, config_for, expand_methods, load_data, run_cli, training_bar
from .methods import METHODS, load_or_train
from .protocol import evaluate

TABLE_COLUMNS = ["precision@10", "recall@10", "f1@10", "recall@50", "ndcg@50", "bruteforce_recall@50",
                 "scored_per_user", "ms_per_user"]


def main(argv=None) -> int:
    p = base_parser("Evaluate methods on the held-out test users.", list(METHODS) + ["all"])
    p.add_argument("--json", action="store_true", help="one JSON object per method")
    p.add_argument("--no-train", action="store_true", help="fail instead of training a missing model")
    args = p.parse_args(argv)
    apply_data_dir(args)
    methods = expand_methods(args.method, list(METHODS))
    split = load_data(args)
    rows = []
    for method in methods:
        with training_bar(f"{method} (load or train)", enabled=METHODS[method].trainable) as progress:
            retriever = load_or_train(split, method, args.seed, args.device, config_for(method, args.epochs, split.name),
                                      progress, train_if_missing=not args.no_train)
        row = evaluate(retriever, split)
        row["seed"] = args.seed
        log = getattr(retriever, "log", None) or {}
        if "wall_seconds" in log:
            row["train_seconds"] = log["wall_seconds"]
        rows.append(row)
        if args.json:
            print(json.dumps(row), flush=True)
    if not args.json:
        print(f"{'method':<12}" + "".join(f"{c:>22}" for c in TABLE_COLUMNS))
        for row in rows:
            print(f"{row['method']:<12}" + "".join(f"{row[c]:>22.4f}" for c in TABLE_COLUMNS))
    return 0


if __name__ == "__main__":
    run_cli(main)
