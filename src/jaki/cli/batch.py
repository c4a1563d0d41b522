"""``jaki generate --from-data FILE --all``: every loop of a dataset continued in batched calls, one folder each."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from jaki.generate import (
    Seed,
    TuningOptions,
    generate_batch,
    generation_document,
    output_paths,
    resolve_tempo,
    write_generation,
)
from jaki.io import check_output_folder

if TYPE_CHECKING:
    from jaki.weights import LoadedModel


def seed_folders(out_dir: Path, count: int) -> list[Path]:
    """One folder per seed, named by its loop index, zero-padded so that they sort in the dataset's order."""
    width = max(5, len(str(count - 1)))
    return [out_dir / f"loop-{index:0{width}d}" for index in range(count)]


def generate_all(
    seeds: Sequence[Seed],
    requests: dict[str, str | float],
    out_dir: Path,
    seed_value: int,
    loaded: LoadedModel,
    tuning: TuningOptions,
    tempo: float | None,
    options: dict[str, Any],
    files: dict[str, Any],
    *,
    json_output: bool = False,
) -> None:
    """Generate for every seed with :func:`jaki.generate.generate_batch` (``options``: its keywords) and write each
    seed's files with :func:`jaki.generate.write_generation` (``files``: its keywords) into its own folder.

    Every folder and tempo is checked before any work; each folder is written whole or not at all, so an
    interrupted run leaves complete folders only.
    """
    check_output_folder(out_dir, [], create_parents=True)  # a file where the folder should be
    tempos = [resolve_tempo(tempo, seed) for seed in seeds]
    folders = seed_folders(out_dir, len(seeds))
    for folder in folders:
        every_output = output_paths(folder, wav=True, png=True).values()
        check_output_folder(folder, [path.name for path in every_output], overwrite=files["force"], create_parents=True)
    console = Console(stderr=True, quiet=json_output)
    started = time.perf_counter()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        generating = progress.add_task("generating", total=len(seeds))
        generations = generate_batch(
            seeds,
            requests,
            seed_value=seed_value,
            model=loaded,
            tuning=tuning,
            tempo_bpm=tempo,
            progress=lambda done: progress.update(generating, completed=done),
            **options,
        )
        generated = time.perf_counter() - started
        writing = progress.add_task("writing", total=len(seeds))
        written = []
        for generation, folder, tempo_bpm in zip(generations, folders, tempos, strict=True):
            written.append(write_generation(generation, folder, tempo_bpm=tempo_bpm, **files))
            progress.advance(writing)
    if json_output:
        documents = [generation_document(g, paths) for g, paths in zip(generations, written, strict=True)]
        typer.echo(json.dumps(documents, indent=2, allow_nan=False))
        return
    met = sum(all(outcome.met for outcome in g.outcomes) for g in generations)
    targets = f"; every target met in {met:,} of {len(generations):,}" if requests else ""
    console.print(
        f"wrote {len(folders):,} folders in {out_dir} ({', '.join(p.name for p in written[0].values())} each)"
        f"{targets}; {len(seeds) / generated:,.1f} patterns/s generated, {time.perf_counter() - started:.1f} s in all",
        highlight=False,
    )
