"""Loop datasets: windows, filters, duplicates, splits, metadata, the file format and the loader."""

from __future__ import annotations

import csv
import json
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from jaki.dataset import (
    DATASET_FORMAT_VERSION,
    DUPLICATE,
    NOT_FOUR_FOUR_FILE,
    SPLITS,
    TOO_FEW_HITS,
    UNREADABLE,
    LoopDataset,
    build_dataset,
    dataset_bands,
    dataset_summary,
    hash_split,
    load_dataset,
    save_dataset,
)
from jaki.errors import JakiInputError
from jaki.features import level_bands, tuner_feature_values
from jaki.midi import write_drum_midi
from jaki.pattern import Pattern

ROCK = Pattern.from_grid(
    """
kick   x.......x.......
snare  ....x.......x...
closed x.x.x.x.x.x.x.x.
open   ................
toms   ................
"""
)
FUNK = Pattern.from_grid(
    """
kick   x......x..x.....
snare  ....x.x.....xx..
closed x.x.x.....x.x...
open   ...............x
toms   ...............x
"""
)
ONE_HIT = Pattern.from_grid(
    """
kick   x...............
snare  ................
closed ................
open   ................
toms   ................
"""
)


def write_song(folder: Path, name: str, bars: list[Pattern]) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    write_drum_midi(Pattern.concat(bars), path, tempo_bpm=100.0)
    return path


def write_info(folder: Path, rows: list[dict[str, str]]) -> None:
    columns = ["drummer", "style", "beat_type", "time_signature", "midi_filename", "split"]
    with (folder / "info.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows({**dict.fromkeys(columns, ""), **row} for row in rows)


# --- windows ------------------------------------------------------------------------------------------------


def test_windows_hop_and_bar2_filter(tmp_path: Path) -> None:
    bars = [ROCK, FUNK, ONE_HIT, ROCK, FUNK]
    song = write_song(tmp_path, "song.mid", bars)
    dataset, report = build_dataset([song])
    # Windows (0,1) (1,2) (2,3) (3,4); (1,2) has a 1-hit bar 2 and is dropped; (3,4) repeats (0,1) — kept only
    # if the file landed outside train.
    assert report.files_read == 1 and report.bars_read == 5
    assert report.skipped[TOO_FEW_HITS] == 1
    duplicate = dataset.split[0] == "train"
    assert report.skipped[DUPLICATE] == int(duplicate)
    assert dataset.bar_index.tolist() == ([0, 2] if duplicate else [0, 2, 3])
    assert dataset.pattern(0).binary() == Pattern.concat([ROCK, FUNK])
    assert dataset.pattern(1).binary() == Pattern.concat([ONE_HIT, ROCK])
    assert dataset.tempo == pytest.approx(100.0)
    assert set(dataset.source) == {"song.mid"} and set(dataset.groove) == {""}

    hopped, _ = build_dataset([song], hop=2)
    assert hopped.bar_index.tolist() == [0, 2]
    everything, report = build_dataset([song], min_hits_bar2=0)
    assert report.skipped[TOO_FEW_HITS] == 0 and 1 in everything.bar_index.tolist()


def test_duplicates_removed_in_train_only(tmp_path: Path) -> None:
    for name in ("a.mid", "b.mid", "c.mid"):
        write_song(tmp_path, name, [ROCK, ROCK, ROCK, ROCK])
    write_info(
        tmp_path,
        [
            {"midi_filename": "a.mid", "split": "train"},
            {"midi_filename": "b.mid", "split": "train"},
            {"midi_filename": "c.mid", "split": "test"},
        ],
    )
    dataset, report = build_dataset([tmp_path])
    # 3 identical windows per file: one kept in train (a.mid, the first in build order), all 3 kept in test.
    assert Counter(zip(dataset.source.tolist(), dataset.split.tolist(), strict=True)) == {
        ("a.mid", "train"): 1,
        ("c.mid", "test"): 3,
    }
    assert report.skipped[DUPLICATE] == 5
    assert dataset.meta["cross_split_duplicates"] == {"validation": 0, "test": 3}


def test_metadata_from_info_csv(tmp_path: Path) -> None:
    write_song(tmp_path, "d1/s1/1_funk-groove1_100_beat_4-4.mid", [FUNK, ROCK, FUNK])
    write_song(tmp_path, "d1/s1/2_jazz_100_fill_4-4.mid", [ROCK, FUNK])
    write_song(tmp_path, "d1/s1/3_rock_100_beat_3-4.mid", [ROCK, FUNK])
    write_song(tmp_path, "other/unlisted.mid", [ROCK, FUNK])
    write_info(
        tmp_path,
        [
            {"midi_filename": "d1/s1/1_funk-groove1_100_beat_4-4.mid", "drummer": "drummer1", "style": "funk/groove1",
             "beat_type": "beat", "time_signature": "4-4", "split": "validation"},
            {"midi_filename": "d1/s1/2_jazz_100_fill_4-4.mid", "drummer": "drummer1", "style": "jazz",
             "beat_type": "fill", "time_signature": "4-4", "split": "test"},
            {"midi_filename": "d1/s1/3_rock_100_beat_3-4.mid", "time_signature": "3-4", "split": "train"},
        ],
    )  # fmt: skip
    # A source below the folder holding info.csv still finds its rows.
    dataset, report = build_dataset([tmp_path / "d1", tmp_path / "other"])
    assert report.skipped[NOT_FOUR_FOUR_FILE] == 1 and report.files_read == 3
    rows = {
        (source, split, style, drummer, kind)
        for source, split, style, drummer, kind in zip(
            dataset.source, dataset.split, dataset.style, dataset.drummer, dataset.kind, strict=True
        )
    }
    assert rows == {
        ("s1/1_funk-groove1_100_beat_4-4.mid", "validation", "funk", "drummer1", "beat"),
        ("s1/2_jazz_100_fill_4-4.mid", "test", "jazz", "drummer1", "fill"),
        ("unlisted.mid", hash_split("unlisted.mid"), "", "", ""),
    }


def test_unreadable_files_are_reported_not_fatal(tmp_path: Path) -> None:
    write_song(tmp_path, "good.mid", [ROCK, FUNK])
    (tmp_path / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    (tmp_path / "empty.bfd3pal").write_text("")
    (tmp_path / "notes.txt").write_text("not a source")
    dataset, report = build_dataset([tmp_path])
    assert len(dataset) == 1 and report.files_read == 1
    assert report.skipped[UNREADABLE] == 2
    assert [name for name, _ in report.unreadable] == ["broken.mid", "empty.bfd3pal"]
    assert all(reason and "\n" not in reason for _, reason in report.unreadable)


@pytest.mark.parametrize(
    ("sources", "message"),
    [([], "no source"), (["missing-folder"], "no such file or folder"), (["notes.txt"], "not a .mid")],
)
def test_bad_sources(tmp_path: Path, sources: list[str], message: str) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(JakiInputError, match=message):
        build_dataset([tmp_path / source for source in sources])


def test_empty_folder_and_bad_parameters(tmp_path: Path) -> None:
    with pytest.raises(JakiInputError, match=r"no \.mid"):
        build_dataset([tmp_path])
    write_song(tmp_path, "a.mid", [ROCK, FUNK])
    with pytest.raises(JakiInputError, match="hop"):
        build_dataset([tmp_path], hop=0)


def test_progress_reports_every_file(tmp_path: Path) -> None:
    for name in ("a.mid", "b.mid"):
        write_song(tmp_path, name, [ROCK, FUNK])
    calls = []
    build_dataset([tmp_path], progress=lambda done, total, path: calls.append((done, total, path.name)))
    assert calls == [(1, 2, "a.mid"), (2, 2, "b.mid")]


# --- splits -------------------------------------------------------------------------------------------------


def test_hash_split_is_deterministic_and_near_80_10_10() -> None:
    names = [f"folder/take_{i}.mid" for i in range(3000)]
    counts = Counter(hash_split(name) for name in names)
    assert [hash_split(name) for name in names[:50]] == [hash_split(name) for name in names[:50]]
    assert 0.77 < counts["train"] / 3000 < 0.83
    assert 0.08 < counts["validation"] / 3000 < 0.12
    assert 0.08 < counts["test"] / 3000 < 0.12


def assert_no_source_in_two_splits(dataset: LoopDataset) -> None:
    splits_of: dict[str, set[str]] = {}
    for source, split in zip(dataset.source, dataset.split, strict=True):
        splits_of.setdefault(str(source), set()).add(str(split))
    assert all(len(splits) == 1 for splits in splits_of.values())


def test_no_source_in_two_splits_hash_split(tmp_path: Path) -> None:
    for i in range(30):
        write_song(tmp_path, f"takes/{i}.mid", [ROCK, FUNK, ROCK, ONE_HIT, FUNK])
    dataset, _ = build_dataset([tmp_path])
    assert set(dataset.split) == set(SPLITS)  # 30 files reach all three splits
    assert_no_source_in_two_splits(dataset)


def test_gmd_session(gmd_dir: Path) -> None:
    """drummer5/session1: 20 files, one in 5/8, official splits 16 / 2 / 2."""
    dataset, report = build_dataset([gmd_dir / "drummer5" / "session1"])
    assert report.skipped[NOT_FOUR_FOUR_FILE] == 1 and report.files_read == 19 and not report.unreadable
    assert_no_source_in_two_splits(dataset)
    info = {row["midi_filename"]: row for row in csv.DictReader((gmd_dir / "info.csv").open())}
    for source, split, style in zip(dataset.source, dataset.split, dataset.style, strict=True):
        row = info[f"drummer5/session1/{source}"]
        assert (split, style) == (row["split"], row["style"].split("/")[0])
    assert set(dataset.drummer) == {"drummer5"}
    assert {str(s) for s in dataset.split} == set(SPLITS)


def test_palettes(groovetoolbox_dir: Path) -> None:
    dataset, report = build_dataset([groovetoolbox_dir / "palettes"])
    assert report.files_read == 4 and report.bars_read == 329
    # 2-bar grooves give one window, 3-bar ones two, 1-bar ones none: Glam Get Down 36 + 2 × 2, Soul Blues 40,
    # JB 36, Trash Metal 46.
    assert len(dataset) + report.skipped[DUPLICATE] + report.skipped[TOO_FEW_HITS] == 162
    assert set(dataset.style) <= {"pop", "blues", "funk", "metal"}
    assert set(dataset.kind) == {"beat", "fill"}
    three_bars = dataset.groove == "Glam Get Down 26"
    assert dataset.bar_index[three_bars].tolist() == [0, 1]
    assert_no_source_in_two_splits(dataset)


# --- loader and file format ---------------------------------------------------------------------------------


@pytest.fixture
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> LoopDataset:
    """12 files of 4 random bars (seeded), 8 / 2 / 2 files in train / validation / test."""
    folder = tmp_path_factory.mktemp("songs")
    rng = np.random.default_rng(7)
    splits = ["train"] * 8 + ["validation"] * 2 + ["test"] * 2
    for i in range(len(splits)):
        write_song(folder, f"{i}.mid", [Pattern(rng.random((16, 5)) < 0.3) for _ in range(4)])
    write_info(folder, [{"midi_filename": f"{i}.mid", "split": split} for i, split in enumerate(splits)])
    dataset, report = build_dataset([folder])
    assert len(dataset) == 36 - report.skipped[TOO_FEW_HITS]
    return dataset


def test_training_arrays(small_dataset: LoopDataset) -> None:
    categories = small_dataset.categories()
    assert categories.shape == (len(small_dataset), 32) and categories.dtype == np.int64
    for split in SPLITS:
        bar1, bar2 = small_dataset.training_arrays(split)
        mask = small_dataset.split_mask(split)
        assert bar1.shape == bar2.shape == (int(mask.sum()), 16) and bar1.dtype == np.int64
        assert np.array_equal(np.concatenate([bar1, bar2], axis=1), categories[mask])
    values = small_dataset.bar2_feature_values("train")
    assert np.array_equal(values, tuner_feature_values(small_dataset.training_arrays("train")[1]))
    assert dataset_bands(small_dataset) == level_bands(values)
    with pytest.raises(JakiInputError, match="split 'dev'"):
        small_dataset.split_mask("dev")


def test_save_load_round_trip(tmp_path: Path, small_dataset: LoopDataset) -> None:
    path = tmp_path / "loops.npz"
    save_dataset(small_dataset, path)
    loaded = load_dataset(path)
    for name in ("hits", "velocities", "offsets_ms", "source", "groove", "bar_index", "tempo", "style", "split"):
        assert np.array_equal(getattr(loaded, name), getattr(small_dataset, name), equal_nan=name == "offsets_ms")
    assert loaded.meta["format_version"] == DATASET_FORMAT_VERSION
    assert loaded.meta["content_hash"] == small_dataset.content_hash()
    assert loaded.meta["build"]["hop"] == 1
    # No pickle anywhere: every array loads with allow_pickle=False (load_dataset uses it).
    with np.load(path, allow_pickle=False) as archive:
        assert archive["source"].dtype.kind == "U"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loops.npz"]


def test_save_refuses_to_overwrite(tmp_path: Path, small_dataset: LoopDataset) -> None:
    path = tmp_path / "loops.npz"
    path.write_bytes(b"mine")
    with pytest.raises(JakiInputError, match="exists"):
        save_dataset(small_dataset, path)
    assert path.read_bytes() == b"mine"
    save_dataset(small_dataset, path, overwrite=True)
    assert len(load_dataset(path)) == len(small_dataset)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loops.npz"]


def rewrite(path: Path, **changes: np.ndarray) -> None:
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays.update(changes)
    with path.open("wb") as handle:
        np.savez(handle, **arrays)


def test_load_rejects_bad_files(tmp_path: Path, small_dataset: LoopDataset) -> None:
    with pytest.raises(JakiInputError, match="not found"):
        load_dataset(tmp_path / "nope.npz")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(JakiInputError, match="not a readable jaki dataset"):
        load_dataset(garbage)

    path = tmp_path / "loops.npz"
    save_dataset(small_dataset, path)
    meta = json.loads(str(np.load(path)["meta"]))

    rewrite(path, meta=np.array(json.dumps({**meta, "format_version": 99})))
    with pytest.raises(JakiInputError, match="format version 99"):
        load_dataset(path)

    rewrite(path, meta=np.array(json.dumps(meta)), tempo=np.zeros(len(small_dataset)))
    with pytest.raises(JakiInputError, match="content hash"):
        load_dataset(path)

    rewrite(path, tempo=np.zeros(len(small_dataset) + 1))
    with pytest.raises(JakiInputError, match="inconsistent"):
        load_dataset(path)

    rewrite(path, source=np.array([{"a": 1}] * len(small_dataset), dtype=object))
    with pytest.raises(JakiInputError, match="not a readable jaki dataset"):
        load_dataset(path)

    other = tmp_path / "other.npz"
    np.savez(other, weights=np.zeros(3))
    with pytest.raises(JakiInputError, match="not a jaki dataset"):
        load_dataset(other)

    # A damaged .npy header: numpy's parse raises ValueError here, SyntaxError for other damage (both caught).
    save_dataset(small_dataset, path, overwrite=True)
    damaged = tmp_path / "damaged.npz"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(damaged, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "tempo.npy":
                data = data.replace(b"'descr':", b"'descr'::", 1)
            target.writestr(item, data)
    with pytest.raises(JakiInputError, match="not a readable jaki dataset"):
        load_dataset(damaged)


def test_summary(small_dataset: LoopDataset) -> None:
    summary = dataset_summary(small_dataset)
    assert summary["loops"] == len(small_dataset) == sum(summary["splits"].values())
    assert summary["source_kinds"] == {"midi": len(small_dataset)}
    assert summary["part_hit_rates"]["kick"] == pytest.approx(small_dataset.hits[:, :, 0].mean())
    assert set(summary["bands"]) == {"cymbal_density", "drum_density", "syncopation", "repetition"}
    json.dumps(summary)
