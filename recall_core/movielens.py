"""MovieLens releases: registry, download, verification, safe extraction and parsers.

Every failure a user can cause (offline, corrupt zip, wrong checksum, hostile zip
member, missing file, malformed row) raises :class:`DataError` with one sentence
that says what happened and what to do.  Nothing half-written is ever loaded:
files are downloaded to a temporary name and extracted into a temporary folder
that is renamed into place only after verification.
"""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .paths import data_root

DEFAULT_MIRROR = "https://files.grouplens.org/datasets/movielens"
MIRROR_ENV = "RECALL_LAB_MIRROR"
VERIFIED_MARKER = ".recall-lab-verified"
Progress = Callable[[int, int | None], None]  # (bytes done, bytes total or None)


class DataError(Exception):
    """A data problem the user can fix; the message says how."""


@dataclass(frozen=True)
class Release:
    """One MovieLens release as GroupLens publishes it."""

    name: str
    fmt: str  # "100k" (u.data + u.item), "dat" (:: separated), "csv"
    ratings_file: str
    items_file: str
    users_file: str | None
    n_ratings: int | None  # exact row count when the release is frozen
    max_unzipped_bytes: int
    sha256: dict[str, str] = field(default_factory=dict)
    extra_files: tuple[str, ...] = ()

    @property
    def required_files(self) -> tuple[str, ...]:
        files = [self.ratings_file, self.items_file, *self.extra_files]
        if self.users_file:
            files.append(self.users_file)
        return tuple(files)

    @property
    def zip_name(self) -> str:
        return f"{self.name}.zip"


_MB = 1 << 20
# SHA-256 of the extracted ml-100k files as GroupLens publishes them.
ML100K_SHA256 = {
    "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
    "u.genre": "9757e0d3e6b298159a80dd48eaf938114690e911e39af97a76949ef1663610bb",
    "u.info": "5b0a40b2e47a729ee6203063f6dcf8790c2e63f5a18663e6ee318a72c5f3c27b",
    "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
    "u.occupation": "cd5fbec9afe345d993a62fc7817df1a4a9079c4feb267b3118763b8fd942137d",
    "u.user": "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c",
}

RELEASES: dict[str, Release] = {
    r.name: r
    for r in [
        Release("ml-100k", "100k", "u.data", "u.item", "u.user", 100_000, 64 * _MB,
                ML100K_SHA256, extra_files=("u.genre", "u.occupation")),
        Release("ml-1m", "dat", "ratings.dat", "movies.dat", "users.dat", 1_000_209, 256 * _MB),
        Release("ml-latest-small", "csv", "ratings.csv", "movies.csv", None, None, 64 * _MB),
        Release("ml-20m", "csv", "ratings.csv", "movies.csv", None, 20_000_263, 2048 * _MB),
        Release("ml-25m", "csv", "ratings.csv", "movies.csv", None, 25_000_095, 2048 * _MB),
    ]
}

ML100K_GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
]
# ml-1m README: occupation codes of users.dat
ML1M_OCCUPATIONS = [
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student",
    "customer service", "doctor/health care", "executive/managerial", "farmer", "homemaker",
    "K-12 student", "lawyer", "programmer", "retired", "sales/marketing", "scientist",
    "self-employed", "technician/engineer", "tradesman/craftsman", "unemployed", "writer",
]


def get_release(name: str) -> Release:
    try:
        return RELEASES[name]
    except KeyError:
        raise DataError(
            f"Unknown dataset '{name}'. Choose one of: {', '.join(RELEASES)}."
        ) from None


# --------------------------------------------------------------------------- fetching


def mirror_url(release: Release, mirror: str | None = None) -> str:
    base = mirror or os.environ.get(MIRROR_ENV) or DEFAULT_MIRROR
    if "://" not in base:  # a plain folder path is accepted as a file:// mirror
        base = Path(base).resolve().as_uri()
    return base.rstrip("/") + "/" + release.zip_name


def dataset_dir(name: str, root: Path | None = None) -> Path:
    return (root or data_root()) / "datasets" / name


def is_ready(name: str, root: Path | None = None) -> bool:
    return (dataset_dir(name, root) / VERIFIED_MARKER).exists()


def ensure_dataset(
    name: str,
    root: Path | None = None,
    source: str | os.PathLike | None = None,
    mirror: str | None = None,
    progress: Progress | None = None,
) -> Path:
    """Return the folder of a verified release, fetching it first if needed.

    ``source`` may be a local folder (the release folder or its parent) or a zip;
    otherwise the zip is downloaded from ``mirror`` / ``$RECALL_LAB_MIRROR`` /
    GroupLens.
    """
    release = get_release(name)
    target = dataset_dir(name, root)
    if source is None and (target / VERIFIED_MARKER).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{name}-", dir=target.parent) as tmp:
        staging = Path(tmp) / name
        if source is not None and Path(source).is_dir():
            _copy_release_folder(release, Path(source), staging)
        else:
            zip_path = Path(source) if source is not None else _download(release, Path(tmp), mirror, progress)
            if not zip_path.exists():
                raise DataError(f"No such file or folder: {zip_path}. Give the path of a MovieLens folder or zip.")
            safe_extract(zip_path, release, staging)
        verify_release(release, staging)
        (staging / VERIFIED_MARKER).write_text("verified\n")
        _replace_dir(staging, target)
    return target


def _download(release: Release, tmp: Path, mirror: str | None, progress: Progress | None) -> Path:
    url = mirror_url(release, mirror)
    out = tmp / release.zip_name
    try:
        with urllib.request.urlopen(url, timeout=30) as resp, open(out, "wb") as fh:
            total = resp.headers.get("Content-Length")
            total = int(total) if total and total.isdigit() else None
            done = 0
            while chunk := resp.read(1 << 16):
                fh.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DataError(
            f"Could not download {release.name} from {url} ({reason}). If this machine is offline, "
            f"point {MIRROR_ENV} at a folder or URL holding {release.zip_name} "
            f"(e.g. {MIRROR_ENV}=file:///path/to/movielens), or give a local folder/zip "
            "(CLI: --source PATH; app: the upload box in the sidebar)."
        ) from exc
    return out


def safe_extract(zip_path: Path, release: Release, staging: Path) -> None:
    """Extract the release's files from a zip, refusing hostile or broken archives."""
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(
            f"{zip_path.name} is not a readable zip ({exc}). The download may be truncated: "
            "delete it and download again, or fetch the zip from GroupLens by hand."
        ) from exc
    with zf:
        infos = zf.infolist()
        declared = 0
        for info in infos:
            name = info.filename
            parts = Path(name.replace("\\", "/")).parts
            if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in parts:
                raise DataError(
                    f"{zip_path.name} holds an unsafe member '{name}' (absolute path or '..'). "
                    "Refusing to extract it; use the official GroupLens zip."
                )
            declared += info.file_size
        if declared > release.max_unzipped_bytes:
            raise DataError(
                f"{zip_path.name} declares {declared / _MB:.0f} MB of content, more than "
                f"{release.name} can hold ({release.max_unzipped_bytes / _MB:.0f} MB). "
                "It is not a MovieLens release (possibly a zip bomb); refusing to extract."
            )
        members = _locate_members(release, {i.filename: i for i in infos if not i.is_dir()}, zip_path)
        staging.mkdir(parents=True)
        budget = release.max_unzipped_bytes
        for fname, info in members.items():
            try:
                with zf.open(info) as src, open(staging / fname, "wb") as dst:
                    while chunk := src.read(1 << 16):
                        budget -= len(chunk)
                        if budget < 0:
                            raise DataError(
                                f"{zip_path.name} expands beyond its declared size; refusing it "
                                "(not a MovieLens release)."
                            )
                        dst.write(chunk)
            except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
                raise DataError(
                    f"{zip_path.name} is corrupt ({exc}) while reading {fname}. "
                    "Delete it and download again."
                ) from exc


def _locate_members(release: Release, files: dict, zip_path: Path) -> dict:
    """Map each required file to its zip member (``ml-100k/u.data`` or ``u.data``)."""
    found = {}
    for fname in release.required_files:
        candidates = [n for n in files if n == fname or n.endswith("/" + fname)]
        candidates.sort(key=len)
        if not candidates:
            raise DataError(
                f"{zip_path.name} has no {fname}: it is not a {release.name} release "
                f"(expected files: {', '.join(release.required_files)})."
            )
        found[fname] = files[candidates[0]]
    return found


def _copy_release_folder(release: Release, folder: Path, staging: Path) -> None:
    if not (folder / release.ratings_file).exists() and (folder / release.name / release.ratings_file).exists():
        folder = folder / release.name
    missing = [f for f in release.required_files if not (folder / f).is_file()]
    if missing:
        raise DataError(
            f"{folder} is missing {', '.join(missing)} of {release.name}. "
            "Point to the folder that holds the release's files (or its zip)."
        )
    staging.mkdir(parents=True)
    for fname in release.required_files:
        shutil.copyfile(folder / fname, staging / fname)


def _replace_dir(new: Path, target: Path) -> None:
    """Move a verified folder into place; an old copy is removed only afterwards."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def verify_release(release: Release, folder: Path) -> None:
    """Checksums where we know them; otherwise structure and row counts."""
    for fname in release.required_files:
        if not (folder / fname).is_file():
            raise DataError(f"{release.name} is missing {fname}; download it again.")
    for fname, expected in release.sha256.items():
        path = folder / fname
        if path.exists() and sha256_of(path) != expected:
            raise DataError(
                f"Checksum mismatch for {release.name}/{fname}: the file is damaged or not the "
                "official release. Delete it and download again from GroupLens."
            )
    if not release.sha256 and release.n_ratings is not None:
        rows = _count_lines(folder / release.ratings_file) - (1 if release.fmt == "csv" else 0)
        if rows != release.n_ratings:
            raise DataError(
                f"{release.name}/{release.ratings_file} has {rows} ratings, expected "
                f"{release.n_ratings}: the file is truncated or not the official release."
            )
    if release.fmt == "csv":
        header = (folder / release.ratings_file).open("rb").readline().decode("utf-8", "replace").strip()
        if header.split(",")[:3] != ["userId", "movieId", "rating"]:
            raise DataError(f"{release.name}/{release.ratings_file} has an unexpected header '{header}'.")


def _count_lines(path: Path) -> int:
    n = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            n += chunk.count(b"\n")
    return n


# --------------------------------------------------------------------------- parsing


@dataclass
class RawMovieLens:
    """A release as tables, ids as GroupLens gives them."""

    name: str
    ratings: pd.DataFrame  # user, item, rating, timestamp
    items: pd.DataFrame  # item, title, year, genres (list of str)
    users: pd.DataFrame | None  # user, age, gender, occupation
    genre_names: list[str]


def load_raw(name: str, folder: Path) -> RawMovieLens:
    release = get_release(name)
    parse = {"100k": _parse_100k, "dat": _parse_dat, "csv": _parse_csv}[release.fmt]
    raw = parse(release, Path(folder))
    if raw.ratings.empty:
        raise DataError(f"{release.name} has no ratings in {release.ratings_file}.")
    return raw


def _read_table(path: Path, sep: str, columns: list[str], encoding: str, header: bool = False,
                numeric: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a delimited file as strings, then check every row and numeric column."""
    if not path.is_file():
        raise DataError(f"Missing file {path}. Download the release again.")
    try:
        text = path.read_bytes().decode(encoding)
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path.name} is not valid {encoding} text (byte {exc.start}). The file is damaged or "
            "from another source; download the release again."
        ) from exc
    if len(sep) > 1:
        text = text.replace(sep, "\x1f")
        sep = "\x1f"
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, header=0 if header else None, dtype=str,
                         keep_default_na=False, quotechar='"', engine="c")
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"{path.name} is malformed ({exc}). Download the release again.") from exc
    if df.shape[1] != len(columns):
        raise DataError(
            f"{path.name} has {df.shape[1]} columns, expected {len(columns)} "
            f"({', '.join(columns)}). It is not the file this release should have."
        )
    df.columns = columns
    for col in numeric:
        values = pd.to_numeric(df[col], errors="coerce")
        bad = np.flatnonzero(values.isna().to_numpy())
        if len(bad):
            line = int(bad[0]) + (2 if header else 1)
            raise DataError(
                f"{path.name} line {line} is malformed ({col}={df[col].iloc[bad[0]]!r}, "
                f"{len(bad)} bad row(s) in all). Download the release again or fix the file."
            )
        df[col] = values
    return df


def _title_year(titles: pd.Series) -> tuple[pd.Series, pd.Series]:
    year = pd.to_numeric(titles.str.extract(r"\((\d{4})\)\s*$")[0], errors="coerce")
    return titles.str.strip(), year


def _parse_100k(release: Release, folder: Path) -> RawMovieLens:
    ratings = _read_table(folder / "u.data", "\t", ["user", "item", "rating", "timestamp"], "latin-1",
                          numeric=("user", "item", "rating", "timestamp"))
    item_cols = ["item", "title", "release_date", "video_date", "url"] + [f"g{i}" for i in range(19)]
    items = _read_table(folder / "u.item", "|", item_cols, "latin-1", numeric=("item",))
    flags = items[[f"g{i}" for i in range(19)]].to_numpy() == "1"
    title, year = _title_year(items["title"])
    date_year = pd.to_numeric(items["release_date"].str[-4:], errors="coerce")
    items = pd.DataFrame({
        "item": items["item"].astype(np.int64),
        "title": title,
        "year": year.fillna(date_year),
        "genres": [[ML100K_GENRES[j] for j in np.flatnonzero(row)] or ["unknown"] for row in flags],
    })
    users = _read_table(folder / "u.user", "|", ["user", "age", "gender", "occupation", "zip"], "latin-1",
                        numeric=("user", "age"))
    users = users[["user", "age", "gender", "occupation"]]
    return RawMovieLens(release.name, _int_ratings(ratings), items, users, list(ML100K_GENRES))


def _parse_dat(release: Release, folder: Path) -> RawMovieLens:
    ratings = _read_table(folder / "ratings.dat", "::", ["user", "item", "rating", "timestamp"], "latin-1",
                          numeric=("user", "item", "rating", "timestamp"))
    movies = _read_table(folder / "movies.dat", "::", ["item", "title", "genres"], "latin-1", numeric=("item",))
    users = _read_table(folder / "users.dat", "::", ["user", "gender", "age", "occupation", "zip"], "latin-1",
                        numeric=("user", "age", "occupation"))
    occ = users["occupation"].astype(int).clip(0, len(ML1M_OCCUPATIONS) - 1)
    users = pd.DataFrame({"user": users["user"], "age": users["age"], "gender": users["gender"],
                          "occupation": [ML1M_OCCUPATIONS[o] for o in occ]})
    items, genre_names = _movies_with_genres(movies)
    return RawMovieLens(release.name, _int_ratings(ratings), items, users, genre_names)


def _parse_csv(release: Release, folder: Path) -> RawMovieLens:
    ratings = _read_table(folder / "ratings.csv", ",", ["user", "item", "rating", "timestamp"], "utf-8",
                          header=True, numeric=("user", "item", "rating", "timestamp"))
    movies = _read_table(folder / "movies.csv", ",", ["item", "title", "genres"], "utf-8", header=True,
                         numeric=("item",))
    items, genre_names = _movies_with_genres(movies)
    return RawMovieLens(release.name, _int_ratings(ratings), items, None, genre_names)


def _movies_with_genres(movies: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    genres = [[g for g in s.split("|") if g and g != "(no genres listed)"] or ["unknown"]
              for s in movies["genres"]]
    names = sorted({g for gs in genres for g in gs})
    title, year = _title_year(movies["title"])
    items = pd.DataFrame({"item": movies["item"].astype(np.int64), "title": title, "year": year,
                          "genres": genres})
    return items, names


def _int_ratings(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "user": df["user"].astype(np.int64), "item": df["item"].astype(np.int64),
        "rating": df["rating"].astype(np.float32), "timestamp": df["timestamp"].astype(np.int64),
    })
