"""``jaki dataset build`` / ``stats`` as a user runs them: outputs, reports, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from jaki.cli.main import app
from jaki.dataset import SPLITS, load_dataset
from jaki.midi import write_drum_midi
from jaki.pattern import Pattern

runner = CliRunner()


@pytest.fixture
def songs(tmp_path: Path) -> Path:
    """Six MIDI files of four random bars each (seeded), plus one broken file."""
    folder = tmp_path / "songs"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for i in range(6):
        bars = Pattern(rng.random((64, 5)) < 0.3)
        write_drum_midi(bars, folder / f"take{i}.mid")
    (folder / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    return folder


def error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_build_then_stats(tmp_path: Path, songs: Path) -> None:
    out = tmp_path / "loops.npz"
    result = runner.invoke(app, ["dataset", "build", str(songs), "--out", str(out), "--verbose"])
    assert result.exit_code == 0, result.output
    dataset = load_dataset(out)
    assert len(dataset) == 18  # 6 files × 3 windows
    assert "windows kept" in result.stdout and "18" in result.stdout
    assert "broken.mid:" in result.stdout  # --verbose names the unreadable file and why
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loops.npz", "songs"]

    result = runner.invoke(app, ["dataset", "stats", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["loops"] == 18
    assert sum(summary["splits"].values()) == 18 and set(summary["splits"]) == {"train", "validation", "test"}
    assert set(summary["bands"]["cymbal_density"]) == {"low", "medium", "high"}
    low, medium, high = (summary["bands"]["repetition"][level] for level in ("low", "medium", "high"))
    assert low[0] == 0.0 and low[1] < medium[0] <= medium[1] < high[0] and high[1] == 1.0

    result = runner.invoke(app, ["dataset", "stats", str(out)])
    assert result.exit_code == 0, result.output
    assert "level bands" in result.stdout and "syncopation" in result.stdout


def test_a_build_too_small_for_every_split_says_so(tmp_path: Path, songs: Path) -> None:
    one = tmp_path / "one"
    one.mkdir()
    (songs / "take0.mid").rename(one / "take0.mid")
    result = runner.invoke(app, ["dataset", "build", str(one), "--out", str(tmp_path / "one.npz")])
    assert result.exit_code == 0, result.output
    dataset = load_dataset(tmp_path / "one.npz")
    empty = [split for split in SPLITS if not dataset.split_mask(split).any()]
    assert len(empty) == 2  # one file: all its windows land in one split
    assert result.stderr.strip().startswith(f"note: no {' or '.join(empty)} loops: files without an info.csv split")


def test_existing_out_is_untouched_without_force(tmp_path: Path, songs: Path) -> None:
    out = tmp_path / "loops.npz"
    out.write_bytes(b"precious")
    line = error_line(runner.invoke(app, ["dataset", "build", str(songs), "--out", str(out)]))
    assert "exists" in line and "--force" in line
    assert out.read_bytes() == b"precious"
    result = runner.invoke(app, ["dataset", "build", str(songs), "--out", str(out), "--force"])
    assert result.exit_code == 0, result.output
    assert len(load_dataset(out)) == 18
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loops.npz", "songs"]  # no temporary file left


def test_hop_option(tmp_path: Path, songs: Path) -> None:
    out = tmp_path / "loops.npz"
    result = runner.invoke(app, ["dataset", "build", str(songs), "--out", str(out), "--hop", "2"])
    assert result.exit_code == 0, result.output
    assert len(load_dataset(out)) == 12  # windows at bars 0 and 2 of each file


def test_build_errors(tmp_path: Path, songs: Path) -> None:
    out = tmp_path / "loops.npz"
    line = error_line(runner.invoke(app, ["dataset", "build", str(tmp_path / "missing"), "--out", str(out)]))
    assert "missing" in line and "no such file or folder" in line
    line = error_line(runner.invoke(app, ["dataset", "build", str(songs), "--out", str(tmp_path / "no" / "x.npz")]))
    assert "does not exist" in line
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no .mid" in error_line(runner.invoke(app, ["dataset", "build", str(empty), "--out", str(out)]))
    assert not out.exists()


def test_stats_errors(tmp_path: Path, songs: Path) -> None:
    assert "not found" in error_line(runner.invoke(app, ["dataset", "stats", str(tmp_path / "none.npz")]))
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 truncated")
    assert "not a readable jaki dataset" in error_line(runner.invoke(app, ["dataset", "stats", str(corrupt)]))

    out = tmp_path / "loops.npz"
    assert runner.invoke(app, ["dataset", "build", str(songs), "--out", str(out)]).exit_code == 0
    with np.load(out, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = json.loads(str(arrays["meta"]))
    arrays["meta"] = np.array(json.dumps({**meta, "format_version": 0}))
    old = tmp_path / "old.npz"
    np.savez(old, **arrays)
    line = error_line(runner.invoke(app, ["dataset", "stats", str(old)]))
    assert "format version 0" in line and "jaki dataset build" in line


@pytest.fixture
def labelled_songs(tmp_path: Path) -> Path:
    """Twelve seeded songs, 8 / 2 / 2 in train / validation / test (info.csv), for the commands that need splits."""
    folder = tmp_path / "labelled"
    folder.mkdir()
    rng = np.random.default_rng(5)
    splits = ["train"] * 8 + ["validation"] * 2 + ["test"] * 2
    with (folder / "info.csv").open("w", encoding="utf-8") as handle:
        handle.write("midi_filename,split\n")
        for i, split in enumerate(splits):
            write_drum_midi(Pattern(rng.random((64, 5)) < 0.3), folder / f"{i:02d}.mid")
            handle.write(f"{i:02d}.mid,{split}\n")
    return folder


def test_a_folder_of_shards_is_a_dataset_for_every_command(
    tmp_path: Path, labelled_songs: Path, tiny_model_dir: Path
) -> None:
    folder, single = tmp_path / "shards", tmp_path / "single.npz"
    result = runner.invoke(
        app, ["dataset", "build", str(labelled_songs), "-o", str(folder), "--workers", "2", "--shard-files", "3"]
    )
    assert result.exit_code == 0, result.output
    assert len(list(folder.glob("shard-*.npz"))) == 4 and f"wrote {folder}" in result.stdout
    result = runner.invoke(app, ["dataset", "build", str(labelled_songs), "-o", str(single), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert load_dataset(folder).content_hash() == load_dataset(single).content_hash()

    stats = runner.invoke(app, ["dataset", "stats", str(folder), "--json"])
    assert stats.exit_code == 0 and json.loads(stats.stdout)["content_hash"] == load_dataset(single).content_hash()
    model = tmp_path / "model"
    trained = runner.invoke(
        app, ["train", "--data", str(folder), "--out", str(model), "--epochs", "1", "--hidden", "8", "--threads", "1"]
    )
    assert trained.exit_code == 0, trained.output
    evaluated = runner.invoke(app, ["evaluate", "--model", str(model), "--data", str(folder), "--split", "test"])
    assert evaluated.exit_code == 0, evaluated.output
    generated = runner.invoke(
        app,
        [
            "generate",
            "--model",
            str(tiny_model_dir),
            "--from-data",
            str(folder),
            "--index",
            "0",
            "--method",
            "random",
            "--out",
            str(tmp_path / "g"),
        ],
    )
    assert generated.exit_code == 0, generated.output
    assert any((tmp_path / "g").glob("*.mid"))


def test_an_interrupted_build_says_how_to_resume(tmp_path: Path, songs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import jaki.dataset as dataset_module

    real = dataset_module._read_performances
    calls = []

    def interrupt_on_the_third(path: Path):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(path)

    monkeypatch.setattr(dataset_module, "_read_performances", interrupt_on_the_third)
    out = tmp_path / "loops.npz"
    args = ["dataset", "build", str(songs), "--out", str(out), "--workers", "1", "--shard-files", "2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 130
    assert (
        result.stderr.strip()
        == f"interrupted: the finished shards are kept in {out}.partial; run the same command to resume"
    )
    assert not out.exists()
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "files resumed" in result.stdout and len(load_dataset(out)) == 18


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--backend", "ray"], "--backend ray: unknown (expected one of process, dask)"),
        (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler goes with --backend dask"),
        (
            ["--backend", "dask", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"],
            "--workers sizes a local cluster",
        ),
    ],
)
def test_build_engine_errors(tmp_path: Path, songs: Path, options: list[str], message: str) -> None:
    out = tmp_path / "loops.npz"
    assert message in error_line(runner.invoke(app, ["dataset", "build", str(songs), "--out", str(out), *options]))
    assert not out.exists()


def test_dask_without_the_extra_is_one_line(tmp_path: Path, songs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed: importing it raises ImportError
    line = error_line(
        runner.invoke(app, ["dataset", "build", str(songs), "-o", str(tmp_path / "d.npz"), "--backend", "dask"])
    )
    assert line == "error: --backend dask needs Dask, an optional extra: pip install 'jaki[dask]'"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["songs"]
