"""The protocol's split and samples."""
from __future__ import annotations

import numpy as np
import pytest

from recall_core.data import SplitConfig, history_matrix, make_synthetic, prepare, sliding_window_samples
from recall_core.movielens import DataError, RawMovieLens, load_raw


def test_ml100k_split_invariants(ml100k, data_root):
    s = ml100k
    assert s.n_items == 1447 and s.n_users == 897
    assert len(s.test) >= 150 and len(s.valid) >= 370
    train, valid, test = set(s.full_train_users), set(s.valid.users), set(s.test.users)
    assert not (train & valid) and not (train & test) and not (valid & test)
    assert len(train | valid | test) == s.n_users
    # held-out users own exactly their input halves among the training sequences
    owned = dict(zip(s.train_users.tolist(), s.train_sequences))
    for held in (s.valid, s.test):
        for user, inputs in zip(held.users, held.inputs):
            assert np.array_equal(owned[int(user)], inputs)
    # a held-out user's halves are the whole sequence, in time order, input first
    raw = load_raw("ml-100k", data_root / "datasets" / "ml-100k")
    pos = raw.ratings[raw.ratings.rating >= 4]
    for row in range(0, len(s.test), 15):
        user = s.test.users[row]
        seq = np.concatenate([s.test.inputs[row], s.test.truths[row]])
        assert len(s.test.inputs[row]) == len(seq) // 2
        mine = pos[pos.user == s.raw_users[user]].sort_values(["timestamp"], kind="stable")
        assert sorted(s.catalogue.raw_ids[seq].tolist()) == sorted(mine.item.tolist())
        stamps = mine.set_index("item").loc[s.catalogue.raw_ids[seq], "timestamp"].to_numpy()
        assert (np.diff(stamps) >= 0).all()
    # counts used by the popularity floor come from training users only
    assert s.item_counts.sum() == sum(len(q) for q in s.train_sequences)


def test_no_held_out_ground_truth_in_training_samples(ml100k):
    samples = sliding_window_samples(ml100k)
    assert set(np.unique(samples.users)) <= set(ml100k.train_users)
    for held in (ml100k.valid, ml100k.test):
        for user, inputs, truth in list(zip(held.users, held.inputs, held.truths))[::10]:
            mine = samples.users == user
            seen = set(samples.targets[mine].tolist()) | set(samples.histories[mine].ravel().tolist())
            assert seen <= set(inputs.tolist()) | {ml100k.pad}
            # the cut is by time, so a truth item may equal an input item only if rated twice (never here)
            assert not (set(samples.targets[mine].tolist()) & (set(truth.tolist()) - set(inputs.tolist())))


def test_validation_is_large_enough_to_choose_settings(ml100k):
    """Per-user recall@50 of item-CF varies with a std near 0.19: ~370 users give a standard error <= 0.01."""
    from recall_core.protocol import ItemCF, hit_matrix

    held = ml100k.valid
    items = ItemCF(ml100k).retrieve(held.inputs, 50).items
    recall = hit_matrix(items, held.truths).sum(1) / np.array([len(t) for t in held.truths])
    assert recall.std() / np.sqrt(len(recall)) <= 0.01


def test_split_is_deterministic_and_seeded(ml100k, data_root):
    raw = load_raw("ml-100k", data_root / "datasets" / "ml-100k")
    again = prepare(raw, ml100k.config)
    assert np.array_equal(again.test.users, ml100k.test.users)
    other = prepare(raw, SplitConfig(split_seed=7))
    assert not np.array_equal(other.test.users, ml100k.test.users)
    assert again.fingerprint() == ml100k.fingerprint() != other.fingerprint()


def test_sliding_windows_are_target_plus_previous_items(synthetic):
    s = synthetic
    samples = sliding_window_samples(s)
    L, pad = s.config.max_len, s.pad
    assert samples.histories.shape[1] == L
    first = s.train_sequences[0]
    n = len(first) - 1
    assert np.array_equal(samples.targets[:n], first[1:])
    for t in (1, 5, n):
        window = samples.histories[t - 1]
        expected = first[max(0, t - L):t]
        assert np.array_equal(window[L - len(expected):], expected)
        assert (window[: L - len(expected)] == pad).all()
    assert len(samples) == sum(len(q) - 1 for q in s.train_sequences)


def test_history_matrix_keeps_the_most_recent_items():
    m = history_matrix([np.array([1, 2, 3, 4, 5]), np.array([], dtype=int)], max_len=3, pad=9)
    assert m.tolist() == [[3, 4, 5], [9, 9, 9]]


def test_synthetic_data_has_planted_topics():
    s = make_synthetic(n_users=200, n_items=120, n_topics=4, seed=3)
    topic = s.catalogue.main_genre()
    # a user's items concentrate on few topics: the top topic covers far more than 1/4
    shares = [np.bincount(topic[q], minlength=4).max() / len(q) for q in s.train_sequences]
    assert np.mean(shares) > 0.5
    assert s.profiles is None and s.n_items <= 120


def test_empty_after_filtering_is_a_clear_error(synthetic):
    import pandas as pd

    raw = RawMovieLens("tiny", pd.DataFrame({"user": [1, 1], "item": [1, 2], "rating": [5.0, 2.0], "timestamp": [1, 2]}),
                       pd.DataFrame({"item": [1, 2], "title": ["a", "b"], "year": [np.nan] * 2, "genres": [["x"], ["x"]]}),
                       None, ["x"])
    with pytest.raises(DataError, match="No user of tiny has 10 ratings"):
        prepare(raw)


def test_genre_labels_are_each_items_label_made_once(synthetic):
    cat = synthetic.catalogue
    labels = cat.genre_labels(", ")
    assert labels == [cat.genre_label(i, ", ") for i in range(len(cat))]
    assert cat.genre_labels(", ") is labels  # made once, then shared
    other = cat.genre_labels(" | ")  # one list per separator
    assert other == [cat.genre_label(i, " | ") for i in range(len(cat))] and other is not labels
