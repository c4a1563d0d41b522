"""MIDI files read per second: jaki's drum reader against mido's bare parse, side by side in one run.

    .venv/bin/python benchmarks/midi_read.py [GMD_DIR]      (default ../shared/data/gmd/groove)

Each pass reads every ``*.mid`` under the folder, in the same order, after an untimed warm-up that fills the OS
file cache; the two readers take turns for ``REPEATS`` rounds and each keeps its best time, so that load from other
processes on a shared machine does not land on one side only. The ratio says what quantising, mapping and folding
cost on top of parsing.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import mido
from rich.console import Console
from rich.table import Table

from jaki.errors import JakiInputError
from jaki.midi import read_drum_midi

REPEATS = 2
DEFAULT_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gmd" / "groove"


def read_with_jaki(path: Path) -> int:
    """Bars read (0 for a file jaki refuses, e.g. one without 4/4 bars: the refusal is timed too)."""
    try:
        return len(read_drum_midi(path).bars)
    except JakiInputError:
        return 0


def parse_with_mido(path: Path) -> int:
    return len(mido.MidiFile(path).tracks)


def timed(read: Callable[[Path], int], files: list[Path]) -> tuple[float, int]:
    start = time.perf_counter()
    total = sum(read(path) for path in files)
    return time.perf_counter() - start, total


def main(folder: Path) -> None:
    files = sorted(folder.rglob("*.mid"))
    if not files:
        sys.exit(f"error: no .mid files under {folder}")
    for path in files:
        path.read_bytes()
    mido_seconds = jaki_seconds = float("inf")
    for _ in range(REPEATS):
        mido_seconds = min(mido_seconds, timed(parse_with_mido, files)[0])
        seconds, bars = timed(read_with_jaki, files)
        jaki_seconds = min(jaki_seconds, seconds)
    table = Table(title=f"MIDI read speed, {folder} (best of {REPEATS})")
    for column in ("reader", "files", "seconds", "files/s"):
        table.add_column(column, justify="left" if column == "reader" else "right")
    for name, seconds in (("mido.MidiFile (bare parse)", mido_seconds), ("jaki.midi.read_drum_midi", jaki_seconds)):
        table.add_row(name, str(len(files)), f"{seconds:.2f}", f"{len(files) / seconds:.1f}")
    console = Console()
    console.print(table)
    console.print(
        f"jaki / mido time: {jaki_seconds / mido_seconds:.2f}×  ({bars} bars of 4/4 read by jaki)", highlight=False
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DIR)
