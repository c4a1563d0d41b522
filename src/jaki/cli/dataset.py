"""``jaki dataset build`` and ``jaki dataset stats``: make the training file and see what is in it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from jaki.dataset import (
    DUPLICATE,
    NO_DRUMS,
    NOT_FOUR_FOUR,
    NOT_FOUR_FOUR_FILE,
    SKIP_REASONS,
    TOO_FEW_HITS,
    UNREADABLE,
    WORK_SUFFIX,
    BuildConfig,
    BuildReport,
    dataset_summary,
    load_dataset,
    write_dataset,
)
from jaki.errors import JakiInputError
from jaki.features import LEVELS

_QUANTILES = ("min", "q1", "median", "q3", "max", "mean")

app = typer.Typer(help="Build 2-bar loop datasets from drum MIDI and BFD3 palettes, and inspect them.")

# What each skip count of the report counts.
_SKIP_UNITS = {
    NOT_FOUR_FOUR: "bars",
    NOT_FOUR_FOUR_FILE: "files",
    TOO_FEW_HITS: "windows",
    DUPLICATE: "windows",
    NO_DRUMS: "files",
    UNREADABLE: "files",
}


@app.command()
def build(
    sources: Annotated[
        list[Path], typer.Argument(help="Files or folders (searched recursively) of .mid, .midi and .bfd3pal.")
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Dataset to write: a .npz file, or any other name: a folder of shards.")
    ],
    hop: Annotated[int, typer.Option(min=1, max=64, help="Bars between the starts of consecutive windows.")] = 1,
    min_hits_bar2: Annotated[
        int, typer.Option("--min-hits-bar2", min=0, max=80, help="Drop windows whose bar 2 has fewer hits.")
    ] = 2,
    workers: Annotated[
        int | None,
        typer.Option(min=1, max=4096, help="Processes reading files (default: this machine's cores; 1: in this one)."),
    ] = None,
    backend: Annotated[
        str,
        typer.Option(help="Where the reading runs: process (a pool here) or dask (pip install 'jaki\\[dask]')."),
    ] = "process",
    scheduler: Annotated[
        str | None,
        typer.Option(help="With --backend dask: a running cluster's scheduler (default: a local one of --workers)."),
    ] = None,
    shard_files: Annotated[
        int,
        typer.Option(min=1, max=1_000_000, help="Files per task: the unit of parallel work, memory and resume."),
    ] = BuildConfig.files_per_shard,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing --out file or dataset folder.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="List unreadable files with reasons.")] = False,
) -> None:
    """Cut every window of two consecutive 4/4 bars out of SOURCES and save them, with splits, to --out.

    Files are read in parallel, in shards kept in --out + '.partial' until the build ends: an interrupted build
    (Ctrl-C, a kill) run again with the same --out reads only the files it had not finished. Only a MIDI file's
    drum channel (10) is read; a song without drums is skipped and counted.
    """
    from jaki.backends import default_workers, runner

    if scheduler is not None and workers is not None:
        raise JakiInputError("--workers sizes a local cluster; a --scheduler's cluster has its own workers")
    run = runner(backend, workers or default_workers(), scheduler)
    console = Console(stderr=True)
    with Progress(
        TextColumn("reading"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("files"),
        TimeElapsedColumn(),
        TextColumn("{task.description}", style="dim"),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("", total=None)

        def advance(done: int, total: int, path: Path) -> None:
            progress.update(task, completed=done, total=total, description=path.name)

        try:
            result = write_dataset(
                sources,
                out,
                hop=hop,
                min_hits_bar2=min_hits_bar2,
                run=run,
                config=BuildConfig(files_per_shard=shard_files),
                progress=advance,
                overwrite=force,
            )
        except KeyboardInterrupt:
            progress.stop()
            typer.echo(
                f"interrupted: the finished shards are kept in {out}{WORK_SUFFIX}; run the same command to resume",
                err=True,
            )
            raise typer.Exit(code=130) from None
    report, counts = result.report, result.loops
    stdout = Console()
    stdout.print(_report_table(report, result.meta.get("cross_split_duplicates", {}), result.files_resumed))
    loops = sum(counts.values())
    stdout.print(f"wrote {out} ({loops:,} loops: {', '.join(f'{k} {v:,}' for k, v in counts.items())})")
    empty = [name for name, count in counts.items() if count == 0]
    if empty:
        typer.echo(
            f"note: no {' or '.join(empty)} loops: files without an info.csv split go 80/10/10 by a hash of their "
            "path, too few files to fill every split ('jaki train' needs train and validation loops)",
            err=True,
        )
    if verbose and report.unreadable:
        stdout.print("unreadable files:")
        for name, reason in report.unreadable:
            stdout.print(f"  {name}: {reason}", markup=False, highlight=False)


def _report_table(report: BuildReport, cross_split: dict[str, int], files_resumed: int) -> Table:
    table = Table(title="dataset build", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    if files_resumed:
        table.add_row("files resumed (read by the interrupted build)", f"{files_resumed:,}")
    table.add_row("files read", f"{report.files_read:,}")
    table.add_row("bars read (4/4)", f"{report.bars_read:,}")
    table.add_row("windows kept", f"{report.windows_kept:,}")
    for reason in SKIP_REASONS:
        table.add_row(f"skipped: {reason} ({_SKIP_UNITS[reason]})", f"{report.skipped.get(reason, 0):,}")
    for split, count in cross_split.items():
        table.add_row(f"{split} loops also in train", f"{count:,}")
    return table


@app.command()
def stats(
    file: Annotated[Path, typer.Argument(help="A dataset file or folder written by 'jaki dataset build'.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as one JSON object.")] = False,
) -> None:
    """Counts per split, style and source; per-part hit rates; tuner features and level bands of train bar 2s."""
    summary = dataset_summary(load_dataset(file))
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    console = Console()
    counts = Table(title=f"{file}: {summary['loops']:,} loops from {summary['sources']:,} sources")
    counts.add_column("group")
    counts.add_column("value")
    counts.add_column("loops", justify="right")
    for group in ("splits", "source_kinds", "kinds", "styles"):
        for value, count in summary[group].items():
            counts.add_row(group.replace("_", " "), value, f"{count:,}")
    console.print(counts)

    rates = Table(title="hits per step (all loops)")
    for part in summary["part_hit_rates"]:
        rates.add_column(part, justify="right")
    rates.add_row(*(f"{rate:.3f}" for rate in summary["part_hit_rates"].values()))
    console.print(rates)

    distribution = Table(title="tuner features of train bar 2s")
    distribution.add_column("feature")
    for column in _QUANTILES:
        distribution.add_column(column, justify="right")
    for feature, values in summary["train_bar2_features"].items():
        distribution.add_row(feature, *(f"{values[key]:.3g}" if key in values else "" for key in _QUANTILES))
    console.print(distribution)

    bands = Table(title="level bands (inclusive ranges)")
    bands.add_column("feature")
    for level in LEVELS:
        bands.add_column(level, justify="right")
    for feature, levels in summary["bands"].items():
        bands.add_row(feature, *(f"{levels[level][0]:.3g} – {levels[level][1]:.3g}" for level in LEVELS))
    console.print(bands)
