"""Registry, download, verification, safe extraction and parsers."""
from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest

from recall_core import movielens as ml
from recall_core.movielens import DataError, ensure_dataset, load_raw


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def zip_of_folder(folder: Path, out: Path, prefix: str = "ml-100k/") -> Path:
    return make_zip(out, {prefix + f.name: f.read_bytes() for f in folder.iterdir()})


# ------------------------------------------------------------------ download and extraction


def test_download_through_file_mirror_verifies_and_parses(tmp_path, shared_movielens):
    seen = []
    folder = ensure_dataset("ml-100k", root=tmp_path, mirror=shared_movielens.as_uri(),
                            progress=lambda done, total: seen.append((done, total)))
    assert (folder / ml.VERIFIED_MARKER).exists()
    assert seen and seen[-1][0] == (shared_movielens / "ml-100k.zip").stat().st_size
    raw = load_raw("ml-100k", folder)
    assert len(raw.ratings) == 100_000 and len(raw.items) == 1682 and len(raw.users) == 943
    assert raw.items.loc[raw.items["item"] == 1, "title"].item() == "Toy Story (1995)"
    assert raw.items.loc[raw.items["item"] == 1, "genres"].item() == ["Animation", "Children's", "Comedy"]
    assert len(raw.genre_names) == 19


def test_plain_folder_path_works_as_mirror(tmp_path, shared_movielens):
    assert ml.is_ready("ml-100k", tmp_path) is False
    ensure_dataset("ml-100k", root=tmp_path, mirror=str(shared_movielens))
    assert ml.is_ready("ml-100k", tmp_path)


def test_local_folder_and_local_zip_sources(tmp_path, ml100k_folder):
    ensure_dataset("ml-100k", root=tmp_path / "a", source=ml100k_folder)
    ensure_dataset("ml-100k", root=tmp_path / "b", source=ml100k_folder.parent)  # the parent also works
    z = zip_of_folder(ml100k_folder, tmp_path / "ml-100k.zip")
    folder = ensure_dataset("ml-100k", root=tmp_path / "c", source=z)
    assert ml.sha256_of(folder / "u.data") == ml.ML100K_SHA256["u.data"]


def test_offline_gives_one_clear_error(tmp_path):
    with pytest.raises(DataError) as err:
        ensure_dataset("ml-100k", root=tmp_path, mirror="http://127.0.0.1:9/movielens")
    message = str(err.value)
    assert "RECALL_LAB_MIRROR" in message and "offline" in message
    assert not (tmp_path / "datasets" / "ml-100k").exists()


def test_checksum_mismatch_is_refused_and_nothing_is_left(tmp_path, ml100k_folder):
    data = (ml100k_folder / "u.data").read_bytes()
    (ml100k_folder / "u.data").write_bytes(data.replace(b"196\t242\t3", b"196\t242\t5", 1))
    with pytest.raises(DataError, match="Checksum mismatch"):
        ensure_dataset("ml-100k", root=tmp_path, source=ml100k_folder)
    assert not (tmp_path / "datasets" / "ml-100k").exists()
    assert list((tmp_path / "datasets").iterdir()) == []  # no half folder that could later load


def test_corrupt_and_truncated_zips(tmp_path, shared_movielens):
    blob = (shared_movielens / "ml-100k.zip").read_bytes()
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match="not a readable zip|corrupt"):
        ensure_dataset("ml-100k", root=tmp_path, source=truncated)
    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(b"this is not a zip at all")
    with pytest.raises(DataError, match="not a readable zip"):
        ensure_dataset("ml-100k", root=tmp_path, source=garbage)
    # a zip whose member data is damaged (CRC / deflate error) but whose directory is intact
    damaged = bytearray(blob)
    start = blob.find(b"u.data") + 200
    damaged[start:start + 64] = bytes(64)
    bad = tmp_path / "damaged.zip"
    bad.write_bytes(bytes(damaged))
    with pytest.raises(DataError):
        ensure_dataset("ml-100k", root=tmp_path, source=bad)
    assert not (tmp_path / "datasets" / "ml-100k").exists()


@pytest.mark.parametrize("member", ["../evil.txt", "ml-100k/../../evil.txt", "/etc/evil.txt"])
def test_zip_with_traversal_or_absolute_member_is_refused(tmp_path, ml100k_folder, member):
    z = zip_of_folder(ml100k_folder, tmp_path / "evil.zip")
    with zipfile.ZipFile(z, "a") as zf:
        zf.writestr(member, b"gotcha")
    with pytest.raises(DataError, match="unsafe member"):
        ensure_dataset("ml-100k", root=tmp_path / "root", source=z)
    assert not (tmp_path / "evil.txt").exists()


def test_zip_bomb_is_refused_before_extraction(tmp_path):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ml-100k/u.data", b"\0" * (80 << 20))  # 80 MB of zeros, a few KB compressed
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(DataError, match="zip bomb|declares"):
        ensure_dataset("ml-100k", root=tmp_path / "root", source=bomb)


def test_zip_that_is_not_movielens(tmp_path):
    other = make_zip(tmp_path / "photos.zip", {"holiday/photo.jpg": b"\xff\xd8\xff"})
    with pytest.raises(DataError, match="not a ml-100k release"):
        ensure_dataset("ml-100k", root=tmp_path, source=other)


def test_missing_file_in_folder(tmp_path, ml100k_folder):
    (ml100k_folder / "u.item").unlink()
    with pytest.raises(DataError, match="missing u.item"):
        ensure_dataset("ml-100k", root=tmp_path, source=ml100k_folder)


def test_failed_refresh_keeps_the_old_verified_copy(tmp_path, ml100k_folder, monkeypatch):
    ensure_dataset("ml-100k", root=tmp_path, source=ml100k_folder)
    before = ml.sha256_of(tmp_path / "datasets" / "ml-100k" / "u.data")

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies between extraction and the final rename

    monkeypatch.setattr(ml, "verify_release", crash)
    with pytest.raises(KeyboardInterrupt):
        ensure_dataset("ml-100k", root=tmp_path, source=ml100k_folder)
    assert ml.is_ready("ml-100k", tmp_path)
    assert ml.sha256_of(tmp_path / "datasets" / "ml-100k" / "u.data") == before
    assert sorted(p.name for p in (tmp_path / "datasets").iterdir()) == ["ml-100k"]


def test_unknown_dataset_name():
    with pytest.raises(DataError, match="Unknown dataset 'ml-5m'.*ml-100k"):
        ml.get_release("ml-5m")


def test_row_count_check_for_releases_without_checksums(tmp_path):
    folder = tmp_path / "ml-1m"
    folder.mkdir()
    (folder / "ratings.dat").write_text("1::1::5::978300760\n")
    (folder / "movies.dat").write_text("1::Toy Story (1995)::Animation|Children's|Comedy\n")
    (folder / "users.dat").write_text("1::F::1::10::48067\n")
    with pytest.raises(DataError, match="has 1 ratings, expected 1000209"):
        ml.verify_release(ml.get_release("ml-1m"), folder)


# ------------------------------------------------------------------ parsers


def test_parse_ml1m_dat_format(tmp_path):
    folder = tmp_path / "ml-1m"
    folder.mkdir()
    (folder / "ratings.dat").write_text("1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n")
    (folder / "movies.dat").write_bytes("1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
                                        "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
                                        "3::Caf\xe9 (1999)::Comedy\n".encode("latin-1"))
    (folder / "users.dat").write_text("1::F::1::10::48067\n2::M::56::16::70072\n")
    raw = load_raw("ml-1m", folder)
    assert len(raw.ratings) == 3 and raw.ratings["rating"].tolist() == [5.0, 3.0, 4.0]
    assert raw.items.set_index("item").loc[661, "genres"] == ["Animation", "Children's", "Musical"]
    assert raw.items.set_index("item").loc[3, "title"] == "Café (1999)"
    assert raw.items.set_index("item").loc[1193, "year"] == 1975
    assert raw.users.set_index("user").loc[1, "occupation"] == "K-12 student"
    assert raw.users.set_index("user").loc[2, "age"] == 56


def test_parse_csv_format_with_quoted_titles(tmp_path):
    folder = tmp_path / "ml-latest-small"
    folder.mkdir()
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,964981247\n")
    (folder / "movies.csv").write_text('movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n'
                                       '3,"American President, The (1995)",Comedy|Drama|Romance\n'
                                       '4,Nothing (2003),(no genres listed)\n')
    raw = load_raw("ml-latest-small", folder)
    assert raw.ratings["rating"].tolist() == [4.0, 4.5]
    items = raw.items.set_index("item")
    assert items.loc[3, "title"] == "American President, The (1995)"
    assert items.loc[3, "genres"] == ["Comedy", "Drama", "Romance"]
    assert items.loc[4, "genres"] == ["unknown"]
    assert raw.users is None and "Romance" in raw.genre_names


def test_malformed_row_names_file_and_line(ml100k_folder):
    with open(ml100k_folder / "u.data", "a") as fh:
        fh.write("12\tabc\t4\t881250949\n")
    with pytest.raises(DataError, match=r"u.data line 100001 is malformed"):
        load_raw("ml-100k", ml100k_folder)


def test_row_with_too_many_fields(ml100k_folder):
    text = (ml100k_folder / "u.data").read_text()
    (ml100k_folder / "u.data").write_text("1\t2\t3\t4\t5\n" + text)
    with pytest.raises(DataError, match="u.data"):
        load_raw("ml-100k", ml100k_folder)


def test_wrong_encoding_in_utf8_csv(tmp_path):
    folder = tmp_path / "ml-latest-small"
    folder.mkdir()
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n")
    (folder / "movies.csv").write_bytes(b"movieId,title,genres\n1,Caf\xe9 (1999),Comedy\n")
    with pytest.raises(DataError, match="not valid utf-8"):
        load_raw("ml-latest-small", folder)


def test_every_release_is_registered_with_official_url():
    assert set(ml.RELEASES) == {"ml-100k", "ml-1m", "ml-latest-small", "ml-20m", "ml-25m"}
    for release in ml.RELEASES.values():
        assert ml.mirror_url(release, ml.DEFAULT_MIRROR) == \
            f"https://files.grouplens.org/datasets/movielens/{release.name}.zip"
