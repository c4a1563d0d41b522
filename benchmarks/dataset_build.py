"""How long ``build_dataset`` takes on the whole Groove MIDI Dataset (target: under 30 s on a 2-core machine).

Run: ``.venv/bin/python benchmarks/dataset_build.py [GMD_FOLDER] [--repeat N]``. Reads only; writes nothing.
Prints one table: files, bars, loops per split, skipped by reason, and the best wall time of N builds with
files per second.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from jaki.dataset import SPLITS, build_dataset

DEFAULT_GMD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gmd" / "groove"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_GMD)
    parser.add_argument("--repeat", type=int, default=1, help="builds to time; the best one is reported")
    args = parser.parse_args()
    if not args.folder.is_dir():
        raise SystemExit(f"error: {args.folder}: no such folder (pass the GMD 'groove' folder)")

    timings = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        dataset, report = build_dataset([args.folder])
        timings.append(time.perf_counter() - start)
    best = min(timings)
    files = report.files_read + report.skipped.get("unreadable file", 0) + report.skipped.get("not 4/4 file", 0)

    table = Table(title=f"build_dataset on {args.folder}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("files found", f"{files:,}")
    table.add_row("files read", f"{report.files_read:,}")
    table.add_row("bars read (4/4)", f"{report.bars_read:,}")
    for split in SPLITS:
        table.add_row(f"loops: {split}", f"{int(dataset.split_mask(split).sum()):,}")
    table.add_row("loops: total", f"{len(dataset):,}")
    for reason, count in report.skipped.items():
        table.add_row(f"skipped: {reason}", f"{count:,}")
    table.add_row(f"wall time (best of {args.repeat})", f"{best:.2f} s")
    table.add_row("files per second", f"{files / best:,.0f}")
    table.add_row("target", "< 30 s")
    Console().print(table)


if __name__ == "__main__":
    main()
