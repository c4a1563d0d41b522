"""Building at scale (``write_dataset``): the same content hash for any number of workers, for one file or a folder
of shards and for a build in memory; drum channel only; songs without drums counted; resume; bad folders."""

from __future__ import annotations

import json
import os
from pathlib import Path

import mido
import numpy as np
import pytest

import jaki.dataset as dataset_module
from jaki.backends import runner
from jaki.dataset import (
    DUPLICATE,
    NO_DRUMS,
    SHARDS_MANIFEST,
    UNREADABLE,
    WORK_SUFFIX,
    BuildConfig,
    build_dataset,
    load_dataset,
    write_dataset,
)
from jaki.errors import JakiInputError
from jaki.midi import DRUM_CHANNEL, write_drum_midi
from jaki.pattern import Pattern
from test_dataset import FUNK, ROCK, write_info, write_song

SHARDS = BuildConfig(files_per_shard=2)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Nine seeded songs over three splits, one a song without drums, one broken, and one with a long name whose
    windows all repeat an earlier train file's (so dropping them must not leave its name's width in the text
    arrays: the build in memory never saw it)."""
    folder = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(11)
    names = [f"take{i}.mid" for i in range(8)]
    for name in names:
        write_drum_midi(Pattern(rng.random((64, 5)) < 0.3), folder / name)
    write_song(folder, "take0-repeated-under-a-much-longer-name.mid", [ROCK, FUNK, ROCK, FUNK])
    write_song(folder, "a-first.mid", [ROCK, FUNK, ROCK, FUNK])
    write_piano_song(folder / "ballad.mid", with_drums=False)
    (folder / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    splits = ["train"] * 6 + ["validation", "test"]
    rows = [{"midi_filename": name, "split": split} for name, split in zip(names, splits, strict=True)]
    rows += [
        {"midi_filename": n, "split": "train"} for n in ("a-first.mid", "take0-repeated-under-a-much-longer-name.mid")
    ]
    write_info(folder, rows)
    return folder


def write_piano_song(path: Path, *, with_drums: bool, drums: Pattern = ROCK) -> None:
    """A song of two tracks: ``drums`` twice on channel 10 (with ``with_drums``), then a piano (program 0, channel
    1) playing notes that are also drum-map notes, for longer than the drums."""
    write_drum_midi(Pattern.concat([drums, drums]), path)
    midi = mido.MidiFile(path)
    if not with_drums:
        del midi.tracks[1:]  # the tempo and meter track stays
    piano = mido.MidiTrack([mido.Message("program_change", channel=0, program=0, time=0)])
    for note in [36, 38, 42, 46, 50] * 8:  # kick, snare, closed, open, tom as drum notes
        piano.append(mido.Message("note_on", channel=0, note=note, velocity=90, time=0))
        piano.append(mido.Message("note_off", channel=0, note=note, velocity=0, time=midi.ticks_per_beat // 2))
    midi.tracks.append(piano)
    midi.save(path)


def test_same_hash_for_any_workers_file_folder_and_memory(tmp_path: Path, corpus: Path) -> None:
    in_memory, report = build_dataset([corpus])
    assert report.skipped[DUPLICATE] > 0 and report.skipped[NO_DRUMS] == 1 and report.skipped[UNREADABLE] == 1
    assert "take0-repeated-under-a-much-longer-name.mid" not in set(in_memory.source)
    hashes = {}
    for workers, out in (
        (1, tmp_path / "w1.npz"),
        (2, tmp_path / "w2.npz"),
        (3, tmp_path / "w3.npz"),
        (2, tmp_path / "w2"),
    ):
        result = write_dataset([corpus], out, run=runner("process", workers), config=SHARDS)
        loaded = load_dataset(out)
        hashes[out.name] = (result.meta["content_hash"], loaded.content_hash(), loaded.meta["content_hash"])
        assert result.report == report
        assert result.loops == {
            split: int(in_memory.split_mask(split).sum()) for split in ("train", "validation", "test")
        }
        assert loaded.meta["cross_split_duplicates"] == in_memory.meta["cross_split_duplicates"]
        assert not out.with_name(out.name + WORK_SUFFIX).exists()  # the work folder goes once the build is done
    assert set(hashes.values()) == {(in_memory.content_hash(),) * 3}
    folder = tmp_path / "w2"
    assert (
        len(list(folder.glob("shard-*.npz"))) == len(json.loads((folder / SHARDS_MANIFEST).read_text())["shards"]) > 1
    )
    loaded = load_dataset(folder)
    for name in ("hits", "velocities", "source", "groove", "split", "bar_index", "tempo"):
        assert np.array_equal(getattr(loaded, name), getattr(in_memory, name))


def test_dask_gives_the_same_hash_on_its_own_local_cluster_and_on_a_running_one(tmp_path: Path, corpus: Path) -> None:
    distributed = pytest.importorskip("distributed")
    expected = build_dataset([corpus])[0].content_hash()
    result = write_dataset([corpus], tmp_path / "dask.npz", run=runner("dask", 2), config=SHARDS)
    assert result.meta["content_hash"] == load_dataset(tmp_path / "dask.npz").content_hash() == expected
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        run = runner("dask", 1, scheduler=cluster.scheduler_address)  # --scheduler: that cluster's own workers
        result = write_dataset([corpus], tmp_path / "cluster", run=run, config=SHARDS)
    assert result.meta["content_hash"] == load_dataset(tmp_path / "cluster").content_hash() == expected


def test_a_song_gives_its_drum_channel_only(tmp_path: Path) -> None:
    write_piano_song(tmp_path / "song.mid", with_drums=True, drums=FUNK)
    write_piano_song(tmp_path / "ballad.mid", with_drums=False)
    dataset, report = build_dataset([tmp_path])
    assert report.files_read == 1 and report.skipped[NO_DRUMS] == 1 and report.skipped[UNREADABLE] == 0
    assert not report.unreadable  # a song without drums is counted, not named as broken
    assert set(dataset.source) == {"song.mid"} and len(dataset) == 1
    assert dataset.pattern(0).binary() == Pattern.concat([FUNK, FUNK])  # the piano's drum-range notes are not in it
    assert mido.MidiFile(tmp_path / "song.mid").tracks[-1][0].channel != DRUM_CHANNEL


def test_an_interrupted_build_resumes_reading_only_unfinished_files(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = sorted(path.name for path in corpus.glob("*.mid"))
    read = []
    real_read = dataset_module._read_performances

    def counting(path: Path, stop_after: int | None = None):
        read.append(path.name)
        if stop_after is not None and len(read) > stop_after:
            raise KeyboardInterrupt  # Ctrl-C while the fifth file is read: two shards of two files are finished
        return real_read(path)

    out = tmp_path / "loops.npz"
    monkeypatch.setattr(dataset_module, "_read_performances", lambda path: counting(path, stop_after=4))
    with pytest.raises(KeyboardInterrupt):
        write_dataset([corpus], out, config=SHARDS)
    work = tmp_path / f"loops.npz{WORK_SUFFIX}"
    assert not out.exists() and len(list(work.glob("shard-*.npz"))) == 2
    assert [p.name for p in work.iterdir() if p.name.startswith(".")] == []  # no half-written shard

    read.clear()
    monkeypatch.setattr(dataset_module, "_read_performances", counting)
    os.utime(corpus / files[0], ns=(1, 1))  # a file of a finished shard changed: that shard is read again
    result = write_dataset([corpus], out, config=SHARDS)
    assert sorted(read) == sorted([files[0], files[1], *files[4:]])
    assert result.files_resumed == 2
    assert result.meta["content_hash"] == build_dataset([corpus])[0].content_hash()
    assert not work.exists() and load_dataset(out).content_hash() == result.meta["content_hash"]


def test_bad_outputs_and_folders(tmp_path: Path, corpus: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(JakiInputError, match="not a jaki dataset"):
        write_dataset([corpus], mine)
    assert (mine / "notes.txt").read_text() == "keep me" and not (tmp_path / f"mine{WORK_SUFFIX}").exists()

    folder = tmp_path / "loops"
    write_dataset([corpus], folder, config=SHARDS)
    with pytest.raises(JakiInputError, match="exists"):
        write_dataset([corpus], folder)
    first = load_dataset(folder).content_hash()
    write_dataset([corpus], folder, overwrite=True)  # one shard now: the old shards go with the old folder
    assert load_dataset(folder).content_hash() == first and len(list(folder.glob("shard-*"))) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loops", "mine"]

    manifest = folder / SHARDS_MANIFEST
    meta = json.loads(manifest.read_text())
    for shards, message in (
        ([{"file": "../escape.npz"}], "no list of shard files"),
        ([{"file": "shard-00009.npz"}], "no such file"),
    ):
        manifest.write_text(json.dumps({**meta, "shards": shards}))
        with pytest.raises(JakiInputError, match=message):
            load_dataset(folder)
    manifest.write_text("{not json")
    with pytest.raises(JakiInputError, match="not a readable jaki dataset"):
        load_dataset(folder)
    manifest.write_text(json.dumps({**meta, "content_hash": "0" * 64}))
    with pytest.raises(JakiInputError, match="content hash"):
        load_dataset(folder)
    manifest.unlink()
    with pytest.raises(JakiInputError, match=f"without {SHARDS_MANIFEST}"):
        load_dataset(folder)
