"""Constructed worlds: determinism, the knob, and that the far end defeats a small inner product."""
from __future__ import annotations

import numpy as np
import pytest

from recall_core.data import load_split
from recall_core.movielens import DataError
from recall_core.worlds import (CATALOGUE, best_inner_product, canonical_name, interests_at, is_constructed,
                                load_world, make_catalogue, make_world, oracle, parse_name, test_recall,
                                world_truth)


@pytest.fixture(scope="module")
def worlds():
    return {knob: load_world(knob) for knob in (0.0, 1.0)}


def all_sequences(split):
    """Each user's whole time-ordered sequence (training part, then the held-out truth)."""
    seqs = {}
    for user, seq in zip(split.train_users, split.train_sequences):
        seqs[int(user)] = list(seq)
    for held in (split.valid, split.test):
        for user, truth in zip(held.users, held.truths):
            seqs[int(user)] = seqs[int(user)] + list(truth)
    return [np.array(seqs[u]) for u in sorted(seqs)]


def test_world_is_deterministic_by_seed():
    a, b, c = make_world(0.7, seed=3), make_world(0.7, seed=3), make_world(0.7, seed=4)
    assert a.name == b.name == "world:multi-interest@0.7,seed=3"
    assert np.array_equal(a.truth.interests, b.truth.interests)
    assert all(np.array_equal(x, y) for x, y in zip(a.split.train_sequences, b.split.train_sequences))
    assert all(np.array_equal(x, y) for x, y in zip(a.split.test.truths, b.split.test.truths))
    assert a.split.fingerprint() == b.split.fingerprint()
    assert not np.array_equal(a.truth.interests, c.truth.interests)


@pytest.mark.parametrize("knob, m, topic_size", [(0.0, 1, 80), (0.5, 5, 16), (1.0, 8, 10)])
def test_knob_sets_the_number_of_interests(knob, m, topic_size):
    truth = world_truth(knob)
    assert interests_at(knob) == truth.n_interests == m
    assert truth.interests.shape == (1500, m)
    assert all(len(set(row)) == m for row in truth.interests)  # m distinct topics per user
    assert np.bincount(truth.topic).min() == topic_size
    # every user's taste covers the same 80 items, whatever the knob
    assert np.all(np.count_nonzero(truth.probabilities(), axis=1) == m * topic_size)


def test_sequences_follow_the_interests(worlds):
    for knob, world in worlds.items():
        topics = world.truth.topic[world.split.catalogue.raw_ids - 1]
        touched = np.array([len(set(topics[s])) for s in all_sequences(world.split)])
        assert touched.max() <= world.truth.n_interests
        # with 20-60 positions drawn across the interests, almost every user shows all of them
        assert np.mean(touched == world.truth.n_interests) > 0.9, knob
    assert worlds[0.0].split.n_items == worlds[1.0].split.n_items == 1600


def test_oracle_recall_is_high_at_both_ends(worlds):
    for knob, world in worlds.items():
        assert test_recall(oracle(world), world.split) > 0.85, knob


def test_small_inner_product_of_the_truth_loses_recall_only_at_the_far_end(worlds):
    """The best rank-8 dot product fitted to the TRUE probabilities (every user's interests known):
    it matches the oracle with one interest per user and falls far below it with eight."""
    gaps = {}
    for knob, world in worlds.items():
        best = test_recall(oracle(world), world.split)
        fitted = test_recall(best_inner_product(world, dim=8, steps=100, lr=0.1), world.split)
        gaps[knob] = best - fitted
    assert gaps[0.0] < 0.02
    assert gaps[1.0] > 0.4


def test_names_parse_canonically_and_route_through_load_split():
    assert parse_name("world:multi-interest@0.80,seed=2") == ("world", 0.8, 2)
    assert canonical_name("world:multi-interest@1.0") == "world:multi-interest@1"
    assert parse_name(CATALOGUE) == ("catalogue", None, 0)
    assert is_constructed("world:multi-interest@0") and not is_constructed("ml-100k")
    for bad in ("world:multi-interest@1.5", "world:multi-interest@", "world:multi-interest@x", "synthetic-6kb"):
        with pytest.raises(DataError):
            parse_name(bad)
    split = load_split("world:multi-interest@1.0")
    assert split is load_world(1.0).split and split.name == "world:multi-interest@1"
    assert split.catalogue.titles[0].startswith("item 0 (topic ")


def test_catalogue_is_sparse_and_long_tailed():
    split = make_catalogue()
    counts = np.bincount(np.concatenate(all_sequences(split)), minlength=split.n_items)
    assert split.name == CATALOGUE
    assert 5900 <= split.n_items <= 6000
    assert 90 <= counts.sum() / split.n_users <= 110  # about 100 ratings per user
    per_user = np.array([len(s) for s in all_sequences(split)])
    assert per_user.max() > 3 * np.median(per_user)  # long-tailed activity too
    top = np.sort(counts)[::-1][: split.n_items // 10]
    assert top.sum() >= 0.4 * counts.sum()  # the top 10 % of items get at least 40 % of ratings
    assert counts.sum() / (split.n_users * split.n_items) < 0.03  # sparse (ml-100k: 6.3 %)


def test_catalogue_draws_are_stored_and_read_back(tmp_path, monkeypatch):
    """The users' draws are kept on disk: read back, the split is the one sampling makes; a file made with other
    settings, or unreadable, is drawn again (and replaced); nothing is sampled when the file holds the draws."""
    from recall_core import worlds

    path = tmp_path / "draws.npz"
    fresh = make_catalogue(n_items=600, n_users=200, seed=4)
    first = make_catalogue(n_items=600, n_users=200, seed=4, store=path)
    assert path.exists() and first.fingerprint() == fresh.fingerprint()

    def no_sampling(*args, **kwargs):
        raise AssertionError("sampled although the draws were stored")

    with monkeypatch.context() as m:
        m.setattr(worlds, "_plackett_luce", no_sampling)
        again = make_catalogue(n_items=600, n_users=200, seed=4, store=path)
    assert again.fingerprint() == fresh.fingerprint()
    other = make_catalogue(n_items=600, n_users=200, seed=5, store=path)  # other settings: drawn, file replaced
    assert other.fingerprint() == make_catalogue(n_items=600, n_users=200, seed=5).fingerprint() != fresh.fingerprint()
    path.write_bytes(b"not an npz")
    assert make_catalogue(n_items=600, n_users=200, seed=4, store=path).fingerprint() == fresh.fingerprint()


def test_named_catalogue_keeps_its_draws_in_the_data_root(tmp_path, monkeypatch):
    from recall_core.worlds import load_constructed

    monkeypatch.setenv("RECALL_LAB_DATA", str(tmp_path))
    split = load_constructed("synthetic-6k,seed=2")
    assert (tmp_path / "datasets" / "synthetic-6k,seed=2" / "draws.npz").exists()
    assert load_constructed("synthetic-6k,seed=2").fingerprint() == split.fingerprint()


def test_catalogue_is_deterministic():
    a, b = (make_catalogue(n_items=800, n_users=400, seed=5) for _ in range(2))
    c = make_catalogue(n_items=800, n_users=400, seed=6)
    assert all(np.array_equal(x, y) for x, y in zip(a.train_sequences, b.train_sequences))
    assert a.fingerprint() == b.fingerprint()
    assert not all(len(x) == len(y) and np.array_equal(x, y) for x, y in zip(a.train_sequences, c.train_sequences))


def test_world_sweep_gives_one_row_per_knob_and_method():
    from recall_core.worlds import world_sweep

    rows = world_sweep(knobs=(0.0, 1.0), methods=("oracle", "popular"))
    assert [(r["knob"], r["method"]) for r in rows] == [(0.0, "oracle"), (0.0, "popular"), (1.0, "oracle"),
                                                        (1.0, "popular")]
    assert all(r["two_tower_dim"] == 16 and r["n_test_users"] == 150 for r in rows)
    assert [r["interests"] for r in rows] == [1, 1, 8, 8]
    assert rows[0]["recall@50"] > 10 * rows[1]["recall@50"]  # popularity knows nothing of the interests


@pytest.mark.parametrize("lang, label", [("zh", "构造的数据"), ("en", "constructed")])
def test_sidebar_offers_constructed_data_labelled_as_such(tmp_path, monkeypatch, lang, label):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from conftest import ROOT

    monkeypatch.setenv("RECALL_LAB_DATA", str(tmp_path))  # nothing downloaded: a world needs no download
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "recall_lab.py"), default_timeout=120)
    at.session_state["lang"] = lang
    at.session_state["dataset"] = "world:multi-interest@1"
    at.run()
    st.cache_resource.clear()
    assert not at.exception, [e.value for e in at.exception]
    choice = at.sidebar.selectbox(key="dataset")
    assert sum(label in o for o in choice.options) == 5  # three worlds and the two catalogues
    assert all(label in o for o in choice.options if o.startswith(("world:", "synthetic")))
    assert not any(label in o for o in choice.options if o.startswith("ml-"))
    assert any(label in c.value and "1600" in c.value for c in at.sidebar.caption)
    assert not at.sidebar.warning  # no "not downloaded yet"


def test_ten_thousand_item_catalogue_is_its_own_dataset():
    from recall_core.data import load_split
    from recall_core.worlds import catalogue_base

    assert canonical_name("synthetic-10k,seed=0") == "synthetic-10k" and is_constructed("synthetic-10k,seed=1")
    assert catalogue_base("synthetic-10k,seed=1") == "synthetic-10k" and catalogue_base("synthetic-6k") == CATALOGUE
    split = load_split("synthetic-10k")
    assert split.name == "synthetic-10k" and 9800 <= split.n_items <= 10000
    assert split.fingerprint() != make_catalogue().fingerprint()


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_world_training_settings_do_not_follow_the_profile(monkeypatch, profile):
    """The world rows were trained with WORLD_TRAINING; a lighter quick profile (issue 13) must not change what
    the sweep trains, under either profile."""
    from recall_core.methods import PROFILE_ENV, default_config, get_spec
    from recall_core.worlds import WORLD_TRAINING, world_config

    monkeypatch.setenv(PROFILE_ENV, profile)
    for method, settings in WORLD_TRAINING.items():
        config = world_config(method)
        assert config == type(config)(**settings) and config == default_config(method, "world:multi-interest@0.5")
        assert config.batch_size == get_spec(method).config_cls().batch_size  # not the quick profile's 64
