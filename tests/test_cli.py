"""The CLI contract: fields, exit codes, clear errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT

REQUIRED = ["method", "dataset", "n_test_users", "n_items", "precision@10", "recall@10", "f1@10", "recall@50",
            "ndcg@50", "bruteforce_recall@50", "scored_per_user", "ms_per_user"]


def run(args, data_root, **env):
    environment = {**os.environ, "RECALL_LAB_DATA": str(data_root), **env}
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=environment, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
def test_evaluate_json_has_every_field(data_root, trained):
    trained("two_tower")  # already trained in this session: evaluate must load, not retrain
    out = run(["recall_core.evaluate", "--dataset", "ml-100k", "--method", "popular,two_tower", "--json",
               "--no-train"], data_root)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.strip().splitlines()]
    assert [r["method"] for r in rows] == ["popular", "two_tower"]
    for row in rows:
        assert all(key in row for key in REQUIRED), set(REQUIRED) - set(row)
        assert row["dataset"] == "ml-100k" and row["n_test_users"] >= 150
    assert rows[1]["recall@50"] > rows[0]["recall@50"]


def test_unknown_method_and_dataset_exit_2(tmp_path):
    out = run(["recall_core.evaluate", "--method", "magic"], tmp_path)
    assert out.returncode == 2 and "Unknown method 'magic'" in out.stderr and "Traceback" not in out.stderr
    out = run(["recall_core.train", "--dataset", "ml-7m"], tmp_path)
    assert out.returncode == 2 and "Unknown dataset 'ml-7m'" in out.stderr


def test_cuda_without_gpu_is_refused_clearly(tmp_path, shared_movielens):
    out = run(["recall_core.train", "--method", "two_tower", "--device", "cuda", "--epochs", "1"], tmp_path,
              CUDA_VISIBLE_DEVICES="")
    assert out.returncode == 2 and "no CUDA GPU" in out.stderr and "Traceback" not in out.stderr


def test_offline_without_mirror_is_a_clear_error(tmp_path):
    out = run(["recall_core.evaluate", "--method", "popular"], tmp_path, RECALL_LAB_MIRROR="http://127.0.0.1:9/x")
    assert out.returncode == 2 and "RECALL_LAB_MIRROR" in out.stderr and "Traceback" not in out.stderr


def test_no_train_refuses_missing_model(tmp_path, shared_movielens):
    out = run(["recall_core.evaluate", "--method", "two_tower", "--no-train"], tmp_path)
    assert out.returncode == 2 and "No trained two_tower model" in out.stderr
