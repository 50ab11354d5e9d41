"""The shared protocol's data: positives, time-ordered sequences, held-out users.

Protocol (TDM / DR papers): a rating >= ``min_rating`` is a positive; users with at
least ``min_positives`` positives are kept; sequences are sorted by time; whole
users are held out for validation and test, and a held-out user's first half is
the model input while the second half is the ground truth.  Training samples are
sliding windows: a target item and up to ``max_len`` previous items.

Two choices of ours on top of the papers' protocol (``SplitConfig``):
- the validation set is large enough that its recall@50 has a standard error of at
  most about 0.01 (per-user recall@50 has a standard deviation near 0.19 on ml-100k,
  so about 370 users), because every setting is chosen on it;
- the input halves of held-out users are training data too (``heldout_inputs_in_training``):
  what a user did before the cut is known, as it would be in production; their second
  halves, the ground truth, are never trained on.  Validation and test are treated alike,
  so a figure chosen on validation transfers to test.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .movielens import DataError, RawMovieLens, ensure_dataset, load_raw

AGE_BUCKETS = [0, 18, 25, 35, 45, 50, 56]  # ml-1m's age groups, used for every release


@dataclass(frozen=True)
class SplitConfig:
    min_rating: float = 4.0
    min_positives: int = 10
    test_fraction: float = 0.1
    min_test_users: int = 150
    valid_fraction: float = 0.05
    min_valid_users: int = 380  # capped at half of the users left after the test set
    heldout_inputs_in_training: bool = True
    max_len: int = 50
    split_seed: int = 2024

    def key(self) -> str:
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


@dataclass
class Catalogue:
    """Items after remapping to 0..n-1, with what the pages show."""

    raw_ids: np.ndarray
    titles: list[str]
    years: np.ndarray
    genres: np.ndarray  # [n_items, n_genres] multi-hot float32
    genre_names: list[str]

    def __len__(self) -> int:
        return len(self.titles)

    def genre_label(self, item: int, sep: str = " | ") -> str:
        return sep.join(self.genre_names[g] for g in np.flatnonzero(self.genres[item]))

    def genre_labels(self, sep: str = " | ") -> list[str]:
        """Every item's :meth:`genre_label`, made once per separator: pages label every item of a 10k catalogue
        (a selectbox's options, a map's hover) on each run.  Shared: do not change the list."""
        made = self.__dict__.setdefault("_genre_labels", {})
        if sep not in made:
            made[sep] = [self.genre_label(i, sep) for i in range(len(self))]
        return made[sep]

    def main_genre(self) -> np.ndarray:
        """Index of each item's first listed genre (for colouring and ordering)."""
        return self.genres.argmax(axis=1)


@dataclass
class HeldOut:
    users: np.ndarray  # internal user index
    inputs: list[np.ndarray]  # first half, time-ordered
    truths: list[np.ndarray]  # second half

    def __len__(self) -> int:
        return len(self.users)


@dataclass
class Profiles:
    """Categorical user features as integer codes (index 0 = unknown)."""

    codes: dict[str, np.ndarray]
    vocab: dict[str, list[str]]

    def cardinality(self, name: str) -> int:
        return len(self.vocab[name])


@dataclass
class Split:
    name: str
    config: SplitConfig
    catalogue: Catalogue
    raw_users: np.ndarray  # internal user index -> raw id
    train_users: np.ndarray  # owner of each training sequence (held-out users own their input halves)
    train_sequences: list[np.ndarray]
    valid: HeldOut
    test: HeldOut
    profiles: Profiles | None = None
    item_counts: np.ndarray = field(default=None)  # positives per item in training sequences

    @property
    def n_items(self) -> int:
        return len(self.catalogue)

    @property
    def n_users(self) -> int:
        return len(self.raw_users)

    @property
    def full_train_users(self) -> np.ndarray:
        """Users none of whose positives are held out (the training users proper)."""
        held = np.concatenate([self.valid.users, self.test.users])
        return np.setdiff1d(self.train_users, held)

    @property
    def pad(self) -> int:
        """Index used to pad histories; embedding tables have n_items + 1 rows."""
        return self.n_items

    def fingerprint(self) -> str:
        """Identifies the data a model was trained on (release, protocol, catalogue)."""
        h = hashlib.sha1(f"{self.name}|{self.config.key()}|{self.n_items}|{self.n_users}".encode())
        h.update(np.ascontiguousarray(self.test.users).tobytes())
        return h.hexdigest()[:16]

    def user_profile(self, user: int) -> dict[str, str]:
        if self.profiles is None:
            return {}
        return {k: self.profiles.vocab[k][int(v[user])] for k, v in self.profiles.codes.items()}


def prepare(raw: RawMovieLens, config: SplitConfig = SplitConfig()) -> Split:
    """Apply the protocol to a parsed release."""
    pos = raw.ratings[raw.ratings["rating"] >= config.min_rating]
    counts = pos.groupby("user").size()
    keep = counts.index[counts >= config.min_positives]
    pos = pos[pos["user"].isin(keep)]
    if pos.empty:
        raise DataError(
            f"No user of {raw.name} has {config.min_positives} ratings >= {config.min_rating}; "
            "lower min_positives or min_rating."
        )
    known = set(raw.items["item"].tolist())
    pos = pos[pos["item"].isin(known)]
    item_raw = np.sort(pos["item"].unique())
    user_raw = np.sort(pos["user"].unique())
    n_users = len(user_raw)
    n_test = max(int(round(config.test_fraction * n_users)), min(config.min_test_users, n_users // 4))
    n_valid = max(int(round(config.valid_fraction * n_users)), min(config.min_valid_users, (n_users - n_test) // 2))
    if n_users - n_test - n_valid < 1:
        raise DataError(f"{raw.name} has only {n_users} usable users: too few to hold any out.")

    pos = pos.assign(
        u=np.searchsorted(user_raw, pos["user"].to_numpy()),
        i=np.searchsorted(item_raw, pos["item"].to_numpy()),
    ).sort_values(["u", "timestamp", "i"], kind="stable")
    bounds = np.searchsorted(pos["u"].to_numpy(), np.arange(n_users + 1))
    items = pos["i"].to_numpy()
    sequences = [items[bounds[u]:bounds[u + 1]] for u in range(n_users)]

    order = np.random.default_rng(config.split_seed).permutation(n_users)
    test_users = np.sort(order[:n_test])
    valid_users = np.sort(order[n_test:n_test + n_valid])
    train_users = np.sort(order[n_test + n_valid:])
    valid, test = _held_out(valid_users, sequences), _held_out(test_users, sequences)
    train_sequences = [sequences[u] for u in train_users]
    if config.heldout_inputs_in_training:
        held_users = np.concatenate([valid.users, test.users])
        inputs = valid.inputs + test.inputs
        order_in = np.argsort(np.concatenate([train_users, held_users]), kind="stable")
        owners = np.concatenate([train_users, held_users])[order_in]
        pool = train_sequences + inputs
        train_users, train_sequences = owners, [pool[i] for i in order_in]
    item_counts = np.bincount(np.concatenate(train_sequences), minlength=len(item_raw))

    return Split(
        name=raw.name,
        config=config,
        catalogue=_catalogue(raw, item_raw),
        raw_users=user_raw,
        train_users=train_users,
        train_sequences=train_sequences,
        valid=valid,
        test=test,
        profiles=_profiles(raw.users, user_raw) if raw.users is not None else None,
        item_counts=item_counts,
    )


def _held_out(users: np.ndarray, sequences: list[np.ndarray]) -> HeldOut:
    halves = [len(sequences[u]) // 2 for u in users]
    return HeldOut(
        users=users,
        inputs=[sequences[u][:h] for u, h in zip(users, halves)],
        truths=[sequences[u][h:] for u, h in zip(users, halves)],
    )


def _catalogue(raw: RawMovieLens, item_raw: np.ndarray) -> Catalogue:
    meta = raw.items.drop_duplicates("item").set_index("item").loc[item_raw]
    index = {g: j for j, g in enumerate(raw.genre_names)}
    genres = np.zeros((len(item_raw), len(raw.genre_names)), dtype=np.float32)
    for row, gs in enumerate(meta["genres"]):
        genres[row, [index[g] for g in gs if g in index]] = 1.0
    return Catalogue(
        raw_ids=item_raw,
        titles=[str(t) for t in meta["title"]],
        years=meta["year"].to_numpy(dtype=np.float64),
        genres=genres,
        genre_names=list(raw.genre_names),
    )


def _profiles(users: pd.DataFrame, user_raw: np.ndarray) -> Profiles:
    table = users.drop_duplicates("user").set_index("user").reindex(user_raw)
    age = pd.to_numeric(table["age"], errors="coerce").fillna(-1).to_numpy()
    age_names = ["?"] + [f"{lo}+" if i == len(AGE_BUCKETS) - 1 else f"{lo}-{AGE_BUCKETS[i + 1] - 1}"
                         for i, lo in enumerate(AGE_BUCKETS)]
    age_code = np.where(age < 0, 0, np.searchsorted(AGE_BUCKETS, age, side="right"))
    codes, vocab = {"age": age_code.astype(np.int64)}, {"age": age_names}
    for col in ("gender", "occupation"):
        values = table[col].fillna("?").astype(str)
        names = ["?"] + sorted(set(values) - {"?"})
        lookup = {n: i for i, n in enumerate(names)}
        codes[col] = np.array([lookup[v] for v in values], dtype=np.int64)
        vocab[col] = names
    return Profiles(codes, vocab)


# --------------------------------------------------------------------------- loading


_SPLITS: dict[tuple, Split] = {}


def load_split(name: str = "ml-100k", config: SplitConfig = SplitConfig(), root: Path | None = None,
               source=None, progress=None) -> Split:
    """Fetch (if needed), parse and split a release; memoised per process.

    Constructed datasets (``world:multi-interest@<knob>``, ``synthetic-6k``, ``synthetic-10k``: see ``worlds``)
    are generated instead of fetched."""
    from . import worlds  # worlds builds on this module

    if worlds.is_constructed(name):
        key = (worlds.canonical_name(name), config, "constructed")
        if key not in _SPLITS:
            _SPLITS[key] = worlds.load_constructed(name, config)
        return _SPLITS[key]
    folder = ensure_dataset(name, root=root, source=source, progress=progress)
    key = (name, config, str(folder))
    if source is not None or key not in _SPLITS:
        _SPLITS[key] = prepare(load_raw(name, folder), config)
    return _SPLITS[key]


# --------------------------------------------------------------------------- samples


def history_matrix(histories: list[np.ndarray], max_len: int, pad: int) -> np.ndarray:
    """Left-pad (most recent item last) the last ``max_len`` items of each history."""
    out = np.full((len(histories), max_len), pad, dtype=np.int64)
    for row, h in enumerate(histories):
        h = np.asarray(h)[-max_len:]
        if len(h):
            out[row, max_len - len(h):] = h
    return out


@dataclass
class Samples:
    histories: np.ndarray  # [N, max_len], left-padded with ``pad``
    targets: np.ndarray  # [N]
    users: np.ndarray  # [N] internal user index

    def __len__(self) -> int:
        return len(self.targets)


def sliding_window_samples(split: Split) -> Samples:
    """One sample per position t >= 1 of each training sequence: (items[t-max_len:t], items[t])."""
    L, pad = split.config.max_len, split.pad
    hists, targets, users = [], [], []
    for user, seq in zip(split.train_users, split.train_sequences):
        n = len(seq)
        if n < 2:
            continue
        padded = np.concatenate([np.full(L, pad, dtype=np.int64), seq.astype(np.int64)])
        windows = np.lib.stride_tricks.sliding_window_view(padded, L)[1:n]  # window ending before t
        hists.append(windows)
        targets.append(seq[1:])
        users.append(np.full(n - 1, user))
    return Samples(np.concatenate(hists).astype(np.int64), np.concatenate(targets).astype(np.int64),
                   np.concatenate(users).astype(np.int64))


# --------------------------------------------------------------------------- synthetic


def make_synthetic(n_users: int = 400, n_items: int = 300, n_topics: int = 6, seq_len: tuple[int, int] = (20, 50),
                   seed: int = 0, config: SplitConfig | None = None) -> Split:
    """Users and items drawn from latent topics (planted structure) through the real protocol.

    Each item has one topic (its "genre") and a Zipf popularity; each user prefers
    one or two topics; sequences are sampled without replacement from
    p(item | user) ~ w_user[topic(item)] * popularity(item).
    """
    rng = np.random.default_rng(seed)
    topic = rng.permutation(np.arange(n_items) % n_topics)
    popularity = 1.0 / (1.0 + rng.permutation(n_items)) ** 0.6
    rows = []
    for u in range(n_users):
        w = rng.dirichlet(np.full(n_topics, 0.15)) + 1e-3
        p = w[topic] * popularity
        n = int(rng.integers(seq_len[0], seq_len[1] + 1))
        seq = rng.choice(n_items, size=min(n, n_items), replace=False, p=p / p.sum())
        rows.append(pd.DataFrame({"user": u + 1, "item": seq + 1, "rating": 5.0,
                                  "timestamp": np.arange(len(seq)) + 1000 * u}))
    genre_names = [f"topic {k}" for k in range(n_topics)]
    items = pd.DataFrame({"item": np.arange(n_items) + 1, "title": [f"item {i} (topic {topic[i]})" for i in range(n_items)],
                          "year": np.nan, "genres": [[genre_names[t]] for t in topic]})
    raw = RawMovieLens("synthetic", pd.concat(rows, ignore_index=True), items, None, genre_names)
    cfg = config or SplitConfig(min_test_users=max(20, n_users // 8), min_valid_users=10, max_len=20)
    return prepare(raw, cfg)
