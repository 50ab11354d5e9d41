"""Constructed worlds: synthetic data made through the real protocol, labelled as constructed.

Two generators, both ending in ``data.prepare`` (the protocol every MovieLens release goes
through) so that every method trains and is evaluated exactly as on real data:

``world:multi-interest@<knob>`` (``make_world``) — a world where the dot product cannot.
    One knob in [0, 1] moves it from "an inner product suffices" (0) to "an inner product of
    small dimension cannot express it" (1).  See ``make_world`` for the construction.

``synthetic-6k``, ``synthetic-10k`` (``make_catalogue``) — a sparser, realistic catalogue:
    6,000 (10,000) items with a long-tailed (Zipf) popularity, topics, users with taste
    mixtures and about 100 ratings each (also long-tailed).

Dataset names (the CLI's ``--dataset``, ``load_split``, the app's sidebar):

    world:multi-interest@0.8          knob 0.8, world seed 0
    world:multi-interest@0.8,seed=3   knob 0.8, world seed 3
    synthetic-6k                      the catalogue, seed 0 (synthetic-6k,seed=3 for another draw)
    synthetic-10k                     the same construction with 10,000 items (issue 13's scale check)

Names are canonicalised (``world:multi-interest@0.80`` is ``world:multi-interest@0.8``) so a
model trained on one spelling is found under the other.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .data import Split, SplitConfig, prepare
from .movielens import DataError, RawMovieLens
from .protocol import DenseScoreRetriever, ranking_metrics

WORLD = "world:multi-interest"
CATALOGUE = "synthetic-6k"
# the synthetic catalogues by name: their sizes (make_catalogue's other settings are shared). synthetic-10k is
# issue 13's "catalogue ten times larger" than ml-100k's 1,682 movies, for the scaling checks of the app
CATALOGUES = {"synthetic-6k": dict(n_items=6000, n_users=2500), "synthetic-10k": dict(n_items=10000, n_users=2500)}
# what the app's sidebar offers besides the MovieLens releases
CONSTRUCTED = [f"{WORLD}@0", f"{WORLD}@0.5", f"{WORLD}@1", *CATALOGUES]
# the two-tower dimension that is part of the world's construction (see make_world)
WORLD_TWO_TOWER_DIM = 16

_NAME = re.compile(r"^(?P<base>world:multi-interest@(?P<knob>[0-9.]+)|"
                   + "|".join(map(re.escape, CATALOGUES)) + r")(?:,seed=(?P<seed>\d+))?$")


# --------------------------------------------------------------------------- names


def is_constructed(name: str) -> bool:
    """True for a constructed dataset name (no download: it is generated on demand)."""
    return name.startswith(WORLD) or any(name.startswith(c) for c in CATALOGUES)


def is_world(name: str) -> bool:
    """True for the multi-interest world (not the synthetic catalogue, which trains like MovieLens)."""
    return name.startswith(WORLD)


def parse_name(name: str) -> tuple[str, float | None, int]:
    """``(kind, knob, seed)`` with kind ``"world"`` or ``"catalogue"``; DataError if malformed."""
    match = _NAME.match(name.strip())
    if not match:
        raise DataError(f"Unknown constructed dataset '{name}'. Use '{WORLD}@<knob in [0, 1]>[,seed=<n>]' "
                        f"or one of {', '.join(CATALOGUES)} [,seed=<n>].")
    seed = int(match["seed"] or 0)
    if match["knob"] is None:
        return "catalogue", None, seed
    try:
        knob = float(match["knob"])
    except ValueError:
        knob = -1.0
    if not 0.0 <= knob <= 1.0:
        raise DataError(f"The knob of '{name}' must be a number in [0, 1], got {match['knob']}.")
    return "world", knob, seed


def world_name(knob: float, seed: int = 0) -> str:
    """The canonical name of a world: ``world:multi-interest@0.5`` (``,seed=N`` when N != 0)."""
    return f"{WORLD}@{round(float(knob), 4):g}" + (f",seed={seed}" if seed else "")


def catalogue_name(seed: int = 0, base: str = CATALOGUE) -> str:
    return base + (f",seed={seed}" if seed else "")


def catalogue_base(name: str) -> str:
    """Which synthetic catalogue a name refers to (``synthetic-10k,seed=2`` -> ``synthetic-10k``)."""
    parse_name(name)
    return _NAME.match(name.strip())["base"]


def canonical_name(name: str) -> str:
    kind, knob, seed = parse_name(name)
    return world_name(knob, seed) if kind == "world" else catalogue_name(seed, catalogue_base(name))


def load_constructed(name: str, config: SplitConfig = SplitConfig()) -> Split:
    """The split of a constructed dataset name (called by ``data.load_split``)."""
    kind, knob, seed = parse_name(name)
    if kind == "world":
        return load_world(knob, seed, config).split
    base = catalogue_base(name)
    from .paths import data_root

    stored = data_root() / "datasets" / catalogue_name(seed, base) / "draws.npz"
    return make_catalogue(**CATALOGUES[base], seed=seed, config=config, base=base, store=stored)


# --------------------------------------------------------------------------- the multi-interest world


@dataclass(frozen=True)
class WorldConfig:
    """Sizes of the multi-interest world; only ``knob`` (outside) changes its shape."""

    n_items: int = 1600
    n_users: int = 1500
    span: int = 80  # items one user's taste covers, at every knob (so the oracle's task stays the same)
    max_interests: int = 8  # interests per user at knob 1 (1 at knob 0)
    seq_len: tuple[int, int] = (20, 60)
    within_topic_zipf: float = 0.5  # popularity inside a topic: weight ~ 1 / rank^a


def interests_at(knob: float, max_interests: int = 8) -> int:
    """Interests per user: 1 at knob 0, ``max_interests`` at knob 1, linear (rounded) between."""
    return 1 + int(round((max_interests - 1) * float(knob)))


@dataclass
class WorldTruth:
    """The generative parameters: what the oracle knows and the models must learn."""

    knob: float
    n_interests: int
    topic: np.ndarray  # [n_items] topic of each item
    weight: np.ndarray  # [n_items] weight inside its topic (sums to 1 over each topic)
    interests: np.ndarray  # [n_users, n_interests] topics of each generated user

    @property
    def n_topics(self) -> int:
        return int(self.topic.max()) + 1

    def probabilities(self) -> np.ndarray:
        """p(item | user) [n_users, n_items]: an interest uniformly at random, then an item of it."""
        n_users, n_items = len(self.interests), len(self.topic)
        member = np.zeros((n_users, self.n_topics))
        np.put_along_axis(member, self.interests, 1.0 / self.n_interests, axis=1)
        return member[:, self.topic] * self.weight[None, :]


@dataclass
class World:
    name: str
    truth: WorldTruth
    split: Split


def make_world(knob: float, seed: int = 0, config: WorldConfig = WorldConfig(),
               split_config: SplitConfig | None = None) -> World:
    """The multi-interest world at ``knob`` in [0, 1], through the real protocol.

    Construction.  Every user's taste covers ``span`` = 80 items, at every knob; the knob only
    changes how those 80 items are arranged.  It sets m = 1 + round(7 * knob) interests per user
    (1 at knob 0, 8 at knob 1); the catalogue (1,600 items) is cut into topics of 80 / m items
    (20 topics of 80 at knob 0, 160 topics of 10 at knob 1), and each user gets m distinct topics
    drawn uniformly at random: unrelated interests, each strongly clustered.  A sequence of 20-60
    positives is drawn one position at a time: an interest chosen at random (in proportion to
    what is left of it), then an unseen item of it, by a mild within-topic popularity.  Item
    titles read "item 12 (topic 3)" and the topics are the items' genres: nothing is hidden from
    the models except which topics a user has.

    Why an inner product of small dimension cannot express the far end.  A two-tower model
    scores <u, v> with one user vector u; its top-50 is the cap of item vectors around u.  At
    knob 0 the user's items are one topic: 20 topic directions on a sphere are each the top of
    their own cap, in any dimension >= 2.  At knob 1 the user's items are 8 topics out of 160
    chosen at random: u must point at the mean of 8 far-apart clusters and rank their 80 items
    above 1,520 others, for 1,500 users whose combinations (out of C(160, 8) ~ 9e12) share the
    same item vectors, with the dimension of the world's two-tower fixed at
    ``WORLD_TWO_TOWER_DIM`` = 16 (part of the construction: ``world_two_tower_config``).  In 16
    dimensions other topics lie closer to such a mean than some of the user's own.  Measured
    with ``best_inner_product`` (the best rank-d dot product fitted to the TRUE probabilities,
    every user's interests known): recall@50 0.90 at knob 0 (the oracle's 0.90), 0.64 at knob 1
    (rank 8: 0.22) against the oracle's 0.90.  It is the many users sharing one item table that
    cannot be served: fitted to the 150 test users alone, 16 dimensions suffice.  A scorer that
    looks at the candidate together with the history (item-CF, TDM's attention, NANN's target
    attention) or that retrieves through several paths or branches (DR, TDM's tree) needs no
    single direction: item-CF keeps 0.78 at knob 1.

    Deterministic in (knob, seed, config).
    """
    truth = world_truth(knob, seed, config)
    rng = np.random.default_rng([seed, 1])
    probs = truth.probabilities()
    lengths = rng.integers(config.seq_len[0], config.seq_len[1] + 1, size=config.n_users)
    sequences = _plackett_luce(probs, lengths, rng)
    name = world_name(knob, seed)
    titles = [f"item {i} (topic {truth.topic[i]})" for i in range(config.n_items)]
    raw = _raw(name, sequences, titles, truth.topic, [f"topic {k}" for k in range(truth.n_topics)])
    return World(name, truth, prepare(raw, split_config or SplitConfig()))


_WORLDS: dict[tuple, World] = {}


def load_world(knob: float, seed: int = 0, split_config: SplitConfig = SplitConfig()) -> World:
    """``make_world`` at the default sizes, memoised per process (what ``load_split`` returns)."""
    key = (world_name(knob, seed), split_config)
    if key not in _WORLDS:
        _WORLDS[key] = make_world(knob, seed, split_config=split_config)
    return _WORLDS[key]


def world_truth(knob: float, seed: int = 0, config: WorldConfig = WorldConfig()) -> WorldTruth:
    """Topics, within-topic weights and each user's interests (see ``make_world``)."""
    if not 0.0 <= float(knob) <= 1.0:
        raise ValueError(f"knob must be in [0, 1], got {knob}")
    rng = np.random.default_rng([seed, 0])
    m = interests_at(knob, config.max_interests)
    n_topics = config.n_items // max(config.span // m, 1)
    topic = rng.permutation(np.arange(config.n_items) % n_topics)
    weight = np.empty(config.n_items)
    for k in range(n_topics):
        members = np.flatnonzero(topic == k)
        w = 1.0 / (1.0 + rng.permutation(len(members))) ** config.within_topic_zipf
        weight[members] = w / w.sum()
    interests = np.stack([rng.choice(n_topics, size=m, replace=False) for _ in range(config.n_users)])
    return WorldTruth(float(knob), m, topic, weight, interests)


def _plackett_luce(probs, lengths: np.ndarray, rng: np.random.Generator, chunk: int = 256) -> list[np.ndarray]:
    """Per row, ``length`` items drawn one after another without replacement from ``probs``
    (Gumbel top-k: sorting log p + Gumbel noise is exactly sequential sampling).

    ``probs`` is an array or a function ``(start, stop) -> rows``, so large worlds are made in chunks."""
    rows = probs if callable(probs) else (lambda a, b: probs[a:b])
    out = []
    for a in range(0, len(lengths), chunk):
        p = rows(a, min(a + chunk, len(lengths)))
        n = np.minimum(lengths[a:a + len(p)], (p > 0).sum(axis=1))
        with np.errstate(divide="ignore"):
            keys = np.log(p) + rng.gumbel(size=p.shape)
        for r in range(len(p)):  # each row its own n: partitioning every row at the longest is 5x slower
            top = np.argpartition(-keys[r], n[r] - 1)[:n[r]]
            out.append(top[np.argsort(-keys[r, top], kind="stable")])
    return out


def _raw(name: str, sequences: list[np.ndarray], titles: list[str], topic: np.ndarray,
         genre_names: list[str]) -> RawMovieLens:
    """Sequences (0-based item ids, time-ordered) as a MovieLens-shaped release: every event a 5."""
    users = np.concatenate([np.full(len(s), u + 1) for u, s in enumerate(sequences)])
    items = np.concatenate(sequences) + 1
    stamps = np.concatenate([np.arange(len(s)) + 1000 * u for u, s in enumerate(sequences)])
    ratings = pd.DataFrame({"user": users, "item": items, "rating": 5.0, "timestamp": stamps})
    table = pd.DataFrame({"item": np.arange(len(titles)) + 1, "title": titles, "year": np.nan,
                          "genres": [[genre_names[t]] for t in topic]})
    return RawMovieLens(name, ratings, table, None, genre_names)


# --------------------------------------------------------------------------- yardsticks


class ScoreMatrixRetriever(DenseScoreRetriever):
    """Ranks by a fixed [generated users, generated items] score matrix (the oracle, a fitted model).

    Rows are generated users (raw id - 1), columns generated items (raw id - 1), mapped onto
    the split's internal indices."""

    def __init__(self, split: Split, scores: np.ndarray, method: str):
        self.method = method
        self.n_items = split.n_items
        cols = split.catalogue.raw_ids.astype(np.int64) - 1
        self.scores = torch.as_tensor(scores[:, cols], dtype=torch.float32)
        self.raw_users = np.asarray(split.raw_users, dtype=np.int64) - 1

    def item_scores(self, histories, users=None):
        if users is None:
            raise ValueError(f"{self.method} needs the users' indices")
        return self.scores[torch.as_tensor(self.raw_users[np.asarray(users)])]


def oracle(world: World) -> ScoreMatrixRetriever:
    """The true generative probabilities: the best any method can do in this world."""
    return ScoreMatrixRetriever(world.split, world.truth.probabilities(), "oracle")


def best_inner_product(world: World, dim: int, steps: int = 300, seed: int = 0, lr: float = 0.05,
                       only_test_users: bool = False) -> ScoreMatrixRetriever:
    """The best rank-``dim`` inner product <u_user, v_item> fitted to the TRUE probabilities.

    It knows every user's interests (no data noise, no history encoder): minimise the
    cross-entropy between p(item | user) and softmax_items(U V^T), U and V free.  Its recall is
    what a dot product of that dimension can express in this world, whatever the training.
    ``only_test_users`` fits U and V to the test users alone: fewer interest combinations to
    express, so an even easier task for the dot product (and ten times faster, for tests).
    """
    probs = world.truth.probabilities()
    rows = np.arange(len(probs))
    if only_test_users:
        rows = np.asarray(world.split.raw_users[world.split.test.users], dtype=np.int64) - 1
    target = torch.as_tensor(probs[rows], dtype=torch.float32)
    target = target / target.sum(dim=1, keepdim=True)
    gen = torch.Generator().manual_seed(seed)
    u = (0.1 * torch.randn(target.shape[0], dim, generator=gen)).requires_grad_()
    v = (0.1 * torch.randn(target.shape[1], dim, generator=gen)).requires_grad_()
    opt = torch.optim.Adam([u, v], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = -(target * torch.log_softmax(u @ v.T, dim=1)).sum(dim=1).mean()
        loss.backward()
        opt.step()
    scores = np.zeros(probs.shape, dtype=np.float32)
    with torch.no_grad():
        scores[rows] = (u @ v.T).numpy()
    return ScoreMatrixRetriever(world.split, scores, f"inner_product_d{dim}")


def test_recall(retriever, split: Split, k: int = 50) -> float:
    """recall@k of a retriever on the test users (the protocol's metric)."""
    held = split.test
    result = retriever.retrieve(held.inputs, k, users=held.users)
    return ranking_metrics(result.items, held.truths, (k,))[f"recall@{k}"]


test_recall.__test__ = False  # not a pytest test


# --------------------------------------------------------------------------- the sparse catalogue


def make_catalogue(n_items: int = 6000, n_users: int = 2500, ratings_per_user: float = 100.0,
                   n_topics: int = 30, popularity_zipf: float = 0.9, taste_concentration: float = 0.1,
                   popular_share: float = 0.1, seed: int = 0, config: SplitConfig | None = None,
                   base: str = CATALOGUE, store: Path | None = None) -> Split:
    """A sparse catalogue with planted structure, through the real protocol.

    Items: one of 30 topics each (uniform) and a global Zipf popularity pop(i) ~ 1 / rank^0.9,
    so the top 10 % of items collect about 45 % of the ratings.  Users: a taste mixture over
    topics (Dirichlet(0.1): a few main topics each) and a long-tailed number of ratings
    (log-normal, mean about ``ratings_per_user``, at least 20).  A rating picks, without
    replacement, from  (1 - s) * sum_k taste_k * pop(i | topic k) + s * pop(i),  s = 0.1: mostly
    taste, some plain popularity.  Every event is a positive (rating 5): implicit feedback.
    Density at the defaults is about 1.7 % (ml-100k 6.3 %, ml-20m 0.5 %).  Measured (test users,
    recall@50): popularity 0.11, item-CF 0.22.

    ``store``: a file where the users' draws are kept (``stored_draws``), so that a server makes a catalogue of
    10,000 items in a fraction of a second instead of 1.5 s of sampling.
    """
    settings = dict(n_items=n_items, n_users=n_users, ratings_per_user=ratings_per_user, n_topics=n_topics,
                    popularity_zipf=popularity_zipf, taste_concentration=taste_concentration,
                    popular_share=popular_share, seed=seed)
    rng = np.random.default_rng([seed, n_items])
    topic = rng.integers(n_topics, size=n_items)
    pop = 1.0 / (1.0 + rng.permutation(n_items)) ** popularity_zipf
    within = pop / np.bincount(topic, weights=pop, minlength=n_topics)[topic]
    taste = rng.dirichlet(np.full(n_topics, taste_concentration), size=n_users)
    background = popular_share * pop / pop.sum()

    def probs(a: int, b: int) -> np.ndarray:
        return (1 - popular_share) * taste[a:b, topic] * within[None, :] + background[None, :]

    sigma = 0.7
    lengths = np.clip(np.rint(rng.lognormal(np.log(ratings_per_user) - sigma ** 2 / 2, sigma, n_users)),
                      20, n_items // 4).astype(int)
    draw = lambda: _plackett_luce(probs, lengths, rng)
    sequences = stored_draws(store, settings, draw) if store is not None else draw()
    titles = [f"item {i} (topic {topic[i]})" for i in range(n_items)]
    raw = _raw(catalogue_name(seed, base), sequences, titles, topic, [f"topic {k}" for k in range(n_topics)])
    return prepare(raw, config or SplitConfig())


# make_catalogue's draws as stored on disk: bump when the sampling changes (the numpy version is in the key too,
# as a Generator's streams may change between numpy releases)
DRAWS_FORMAT = 1


def stored_draws(path: Path, settings: dict, draw) -> list[np.ndarray]:
    """The sequences ``draw()`` makes for these ``settings``, read from ``path`` when it holds them (a plain
    npz, read without pickle), else drawn and written there atomically (best effort: a read-only data root
    only means drawing again next time)."""
    from .artifacts import atomic_write_bytes

    key = json.dumps({"format": DRAWS_FORMAT, "numpy": np.__version__, **settings}, sort_keys=True)
    try:
        with np.load(path, allow_pickle=False) as stored:
            if str(stored["key"]) == key:
                items, offsets = stored["items"], stored["offsets"]
                return [items[a:b] for a, b in zip(offsets[:-1], offsets[1:])]
    except (OSError, ValueError, KeyError, EOFError):
        pass  # missing, unreadable or made otherwise: draw again
    sequences = draw()
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in sequences])]).astype(np.int64)
    items = np.concatenate(sequences).astype(np.int64) if sequences else np.zeros(0, np.int64)
    try:
        atomic_write_bytes(path, lambda fh: np.savez(fh, key=np.array(key), items=items, offsets=offsets))
    except OSError:
        pass
    return sequences


# --------------------------------------------------------------------------- the sweep


# What TDM, DR and NANN train with on a world: fewer epochs and rounds than the default profile, because the sweep
# trains them on every knob and seed.  These are the quick profile's settings of the sweep that made the committed
# world rows (bench/latest); the quick profile itself has since become lighter (issue 13's 60 s), and the worlds
# keep these so that their rows stay the code's.
WORLD_TRAINING = {
    "tdm": dict(epochs=2, round_epochs=1, tree_rounds=1),
    "dr": dict(epochs=3, round_epochs=2, em_rounds=1, rerank_epochs=4),
    "nann": dict(epochs=4),
    "nann_plain": dict(epochs=4),
    "sid": dict(epochs=1, rq_steps=500),
}


def world_config(method: str, two_tower_dim: int = WORLD_TWO_TOWER_DIM):
    """What a method trains with in the sweep: the two-tower at the world's dimension (its profile's config: it
    trains in seconds); the others with their default config and :data:`WORLD_TRAINING`'s fewer epochs and rounds,
    whatever the profile.  Search settings are then chosen on the world's validation users."""
    import dataclasses

    from .methods import get_spec

    if method == "two_tower":
        return world_two_tower_config(two_tower_dim)
    spec = get_spec(method)
    return dataclasses.replace(spec.config_cls(), **WORLD_TRAINING.get(method, {})) if spec.trainable else None


def world_two_tower_config(dim: int = WORLD_TWO_TOWER_DIM):
    """The two-tower of the world: the current profile's config with the world's small dimension."""
    from .methods import default_config

    return replace(default_config("two_tower"), dim=dim)


YARDSTICKS = ("oracle", "inner_product")  # not trained by load_or_train: the truth, the best rank-d fit


def world_sweep(knobs=(0.0, 0.5, 1.0), seeds=(0,), methods=("popular", "item_cf", "two_tower"),
                two_tower_dim: int = WORLD_TWO_TOWER_DIM, device: str = "auto", root=None,
                log=None, on_row=None) -> list[dict]:
    """Train (or load) and evaluate ``methods`` on the world at each knob and seed.

    Each method goes through ``methods.load_or_train`` (artifacts under ``root``) with
    ``world_config`` (the two-tower at the world's dimension ``two_tower_dim``, 16 by default,
    stated in every row; the others with :data:`WORLD_TRAINING`); its search setting is chosen on
    the world's validation users (``tuning.choose_search``) and ``evaluate`` reports the test
    users once.  Besides the project's methods, ``"oracle"``
    (the true probabilities) and ``"inner_product"`` (the best rank-``two_tower_dim`` dot
    product fitted to the truth) may be asked for.  The seed is both the world's and the
    training seed.  One row per (knob, seed, method): ``evaluate``'s report plus
    ``knob, seed, interests, topics, two_tower_dim``; ``on_row(row)`` is called as each is ready.
    """
    from .methods import load_or_train
    from .protocol import evaluate
    from .tuning import choose_search

    rows = []
    for seed in seeds:
        for knob in knobs:
            world = load_world(knob, seed)
            for method in methods:
                if method == "oracle":
                    retriever = oracle(world)
                elif method == "inner_product":
                    retriever = best_inner_product(world, two_tower_dim, seed=seed)
                else:
                    retriever = load_or_train(world.split, method, seed, device, world_config(method, two_tower_dim),
                                              root=root, log=log)
                choice = choose_search(method, retriever, world.split.valid)  # the world's validation users
                row = evaluate(retriever, world.split, search=choice.setting if choice else None)
                row.update(knob=float(knob), seed=seed, interests=world.truth.n_interests,
                           topics=world.truth.n_topics, two_tower_dim=two_tower_dim)
                log_ = getattr(retriever, "log", None) or {}
                if "wall_seconds" in log_:
                    row["train_seconds"] = log_["wall_seconds"]
                rows.append(row)
                if on_row is not None:
                    on_row(row)
    return rows
