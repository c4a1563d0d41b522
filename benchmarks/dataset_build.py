"""How fast ``jaki dataset build`` reads a large corpus: files/s for 1, 2 and N worker processes and for the Dask
backend, side by side in one run, with peak memory, on a synthetic corpus of multi-track songs.

Run: ``.venv/bin/python benchmarks/dataset_build.py [GMD_FOLDER] [--files 20000] [--workers 1,2,N] [--dask-workers N]
[--no-dask]`` (N: this machine's cores by default; ``--files 2000`` for a quick run; ``--corpus DIR`` times an
existing folder instead, e.g. the GMD itself).

The corpus is made on the fly in a temporary folder and removed afterwards (never committed): each song is 16–48
consecutive bars of a Groove MIDI Dataset performance on channel 10 (velocities and timing as played), plus bass,
piano and string tracks on other channels (program changes, about three times the drums' notes, as in a pop
song's MIDI file); 5 % are songs without drums and 0.5 % truncated files. Each configuration builds the whole
corpus into a folder of shards in a fresh process (so that its peak memory is its own): wall time, CPU time of the
build and its workers, peak resident memory of the build's process and of its largest worker, and the content
hash, which must be the same in every row. The load average is printed: on a shared machine wall times are
noisy, CPU files/s less so.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import mido
import numpy as np
from rich.console import Console
from rich.table import Table

from jaki.backends import default_workers, runner
from jaki.dataset import NO_DRUMS, UNREADABLE, write_dataset
from jaki.midi import drum_midi_file, read_drum_midi
from jaki.pattern import Pattern

DEFAULT_GMD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gmd" / "groove"
BARS = (16, 48)  # bars per song, inclusive
DRUMLESS_SHARE = 0.05
CORRUPT_SHARE = 0.005
SONGS_PER_FOLDER = 500
FILLER = ((0, 33, 2, 35), (1, 0, 4, 55), (2, 48, 1, 60))  # (channel, program, notes per beat, lowest note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_GMD, help="the GMD 'groove' folder")
    parser.add_argument("--files", type=int, default=20_000, help="songs in the synthetic corpus")
    parser.add_argument("--workers", default=f"1,2,{default_workers()}", help="process-pool sizes, comma-separated")
    parser.add_argument("--dask-workers", type=int, default=default_workers(), help="local Dask cluster's processes")
    parser.add_argument("--no-dask", action="store_true", help="leave out the Dask backend")
    parser.add_argument("--corpus", type=Path, help="time this folder instead of a synthetic corpus")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--measure", nargs=3, metavar=("BACKEND", "WORKERS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        backend, workers, out = args.measure
        measure(args.corpus, backend, int(workers), Path(out))
        return
    if args.files < 1:
        raise SystemExit("error: --files must be at least 1")
    sizes = sorted({int(n) for n in args.workers.split(",")})
    configs = [("process", n) for n in sizes] + ([] if args.no_dask else [("dask", args.dask_workers)])
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="jaki-bench-") as tmp:
        corpus = args.corpus
        if corpus is None:
            if not args.folder.is_dir():
                raise SystemExit(f"error: {args.folder}: no such folder (pass the GMD 'groove' folder)")
            corpus = Path(tmp) / "corpus"
            start = time.perf_counter()
            described = make_corpus(args.folder, corpus, args.files, args.seed, sizes[-1])
            print(f"{described}, made in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        rows = []
        for backend, workers in configs:
            out = Path(tmp) / f"out-{backend}-{workers}"
            command = [sys.executable, __file__, "--corpus", str(corpus), "--measure", backend, str(workers), str(out)]
            done = subprocess.run(command, check=True, capture_output=True, text=True)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"{backend} × {workers}: {rows[-1]['wall_s']:.1f} s", file=sys.stderr)
    print_table(rows, corpus if args.corpus else f"synthetic corpus of {args.files:,} songs", load_before)


def make_corpus(gmd: Path, folder: Path, n_files: int, seed: int, workers: int) -> str:
    """Write ``n_files`` songs into ``folder`` (SONGS_PER_FOLDER a subfolder), in ``workers`` processes."""
    performances = [read_drum_midi(path).bars for path in sorted(gmd.rglob("*_4-4.mid"))]
    performances = [bars for bars in performances if len(bars) >= BARS[0]]
    chunks = [(i, min(i + 250, n_files)) for i in range(0, n_files, 250)]
    with ProcessPoolExecutor(workers, initializer=_keep, initargs=(performances,)) as pool:
        for future in [pool.submit(write_songs, folder, start, stop, seed) for start, stop in chunks]:
            future.result()
    size = sum(path.stat().st_size for path in folder.rglob("*.mid"))
    return f"{n_files:,} songs, {size / 2**20:.0f} MiB, bars from {len(performances)} GMD performances"


_PERFORMANCES: list = []  # in a corpus-writing worker: the GMD performances' bars, sent once


def _keep(performances: list) -> None:
    _PERFORMANCES[:] = performances


def write_songs(folder: Path, start: int, stop: int, seed: int) -> None:
    for index in range(start, stop):
        rng = np.random.default_rng([seed, index])
        path = folder / f"artist{index // SONGS_PER_FOLDER:03d}" / f"song{index:06d}.mid"
        path.parent.mkdir(parents=True, exist_ok=True)
        performance = _PERFORMANCES[rng.integers(len(_PERFORMANCES))]
        n_bars = int(rng.integers(BARS[0], min(BARS[1], len(performance)) + 1))
        first = int(rng.integers(len(performance) - n_bars + 1))
        bars = performance[first : first + n_bars]
        midi = drum_midi_file(Pattern.concat([bar.pattern for bar in bars]), tempo_bpm=bars[0].tempo_bpm)
        if rng.random() < DRUMLESS_SHARE:
            del midi.tracks[1:]
        midi.tracks.extend(filler_track(rng, n_bars, midi.ticks_per_beat, *spec) for spec in FILLER)
        midi.save(path)
        if rng.random() < CORRUPT_SHARE:
            path.write_bytes(path.read_bytes()[: int(path.stat().st_size * 0.3)])


def filler_track(
    rng: np.random.Generator, n_bars: int, ticks_per_beat: int, channel: int, program: int, per_beat: int, low: int
) -> mido.MidiTrack:
    """An instrument's part: ``per_beat`` notes a beat from a two-octave range, random velocities."""
    track = mido.MidiTrack([mido.Message("program_change", channel=channel, program=program, time=0)])
    length = ticks_per_beat // per_beat
    notes = rng.integers(low, low + 24, size=n_bars * 4 * per_beat)
    for note, velocity in zip(notes.tolist(), rng.integers(50, 110, size=len(notes)).tolist(), strict=True):
        track.append(mido.Message("note_on", channel=channel, note=note, velocity=velocity, time=0))
        track.append(mido.Message("note_off", channel=channel, note=note, velocity=0, time=length))
    return track


def measure(corpus: Path, backend: str, workers: int, out: Path) -> None:
    """One build, in this fresh process: print its figures as one JSON line."""
    start, cpu = time.perf_counter(), _cpu_seconds()
    result = write_dataset([corpus], out, run=runner(backend, workers))
    wall = time.perf_counter() - start
    report = result.report
    files = report.files_read + report.skipped[NO_DRUMS] + report.skipped[UNREADABLE]
    row = {
        "backend": backend,
        "workers": workers,
        "files": files,
        "no_drums": report.skipped[NO_DRUMS],
        "unreadable": report.skipped[UNREADABLE],
        "loops": report.windows_kept,
        "wall_s": wall,
        "cpu_s": _cpu_seconds() - cpu,
        "parent_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "worker_peak_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "hash": result.meta["content_hash"],
    }
    print(json.dumps(row))


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def print_table(rows: list[dict], corpus: object, load_before: tuple[float, float, float]) -> None:
    first = rows[0]
    table = Table(
        title=f"jaki dataset build on {corpus}: {first['files']:,} files ({first['no_drums']:,} without drums, "
        f"{first['unreadable']:,} unreadable) → {first['loops']:,} loops"
    )
    for column in ("backend", "workers", "wall s", "files/s", "× 1 worker", "CPU s", "files per CPU s"):
        table.add_column(column, justify="right")
    table.add_column("peak MiB: build / largest worker", justify="right")
    table.add_column("content hash", justify="right")
    for row in rows:
        table.add_row(
            row["backend"],
            str(row["workers"]),
            f"{row['wall_s']:.1f}",
            f"{row['files'] / row['wall_s']:,.0f}",
            f"{first['wall_s'] / row['wall_s']:.2f}",
            f"{row['cpu_s']:.1f}",
            f"{row['files'] / row['cpu_s']:,.0f}",
            f"{row['parent_peak_mib']:,.0f} / {row['worker_peak_mib']:,.0f}",
            row["hash"][:12] + ("" if row["hash"] == first["hash"] else " DIFFERS"),
        )
    Console(width=200).print(table)
    after = os.getloadavg()
    print(
        f"{default_workers()} cores; load average before {load_before[0]:.2f}, after {after[0]:.2f} "
        f"(1-min), {after[1]:.2f} (5-min)"
    )


if __name__ == "__main__":
    main()
