"""``jaki train-groove`` and ``jaki evaluate-groove``: fit the groove model (velocity and timing of bar 2's hits)
to a dataset, and score it against the baselines it must beat."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from jaki.cli import DATASET_HELP
from jaki.dataset import SPLITS, load_dataset, require_split
from jaki.io import check_output_folder
from jaki.pattern import PARTS


def train_groove(
    data: Annotated[Path, typer.Option("--data", help=f"{DATASET_HELP}.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Model folder to write (model.safetensors + config.json).")],
    epochs: Annotated[int | None, typer.Option(min=1, help="Most passes over the train split (default 40).")] = None,
    seed: Annotated[int, typer.Option(help="Seeds initialisation, dropout, shuffling and the quantised bar 1s.")] = 0,
    max_minutes: Annotated[
        float | None,
        typer.Option("--max-minutes", min=0, help="Stop after the epoch that passes this much CPU time (default 8.5)."),
    ] = None,
    threads: Annotated[
        int | None, typer.Option(min=1, help="CPU threads for torch (1 is fastest when other jobs share the cores).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite a model already in --out.")] = False,
) -> None:
    """Train the groove model on the train split (epoch and sampling temperature chosen on validation), save it."""
    import torch

    from jaki.groove import GrooveData, GrooveTrainConfig, save_groove
    from jaki.groove import train_groove as fit
    from jaki.groove_evaluation import choose_temperatures, evaluate_groove
    from jaki.weights import CONFIG_FILE, WEIGHTS_FILE

    check_output_folder(out, (WEIGHTS_FILE, CONFIG_FILE), overwrite=force)
    if threads is not None:
        torch.set_num_threads(threads)
    dataset = load_dataset(data)
    for split in ("train", "validation"):
        require_split(dataset, split, data)
    train, validation = GrooveData.from_split(dataset, "train"), GrooveData.from_split(dataset, "validation")
    given = {"epochs": epochs, "max_minutes": max_minutes}
    config = GrooveTrainConfig(seed=seed, **{name: value for name, value in given.items() if value is not None})
    console = Console(stderr=True)
    console.print(f"training the groove model on {len(train):,} loops (validation {len(validation):,})")

    def report(epoch: int, train_loss: float, val_loss: float) -> None:
        console.print(f"epoch {epoch:3d}  loss {train_loss:.4f}  val loss {val_loss:.4f}", highlight=False)

    result = fit(train, validation, train_config=config, progress=report)
    tried = choose_temperatures(result.model, train, validation, seed=seed)
    reports = evaluate_groove(result.model, train, validation, split="validation", seed=seed)
    metadata = {
        "dataset": {"file": data.name, "content_hash": dataset.content_hash()},
        "training": {
            "config": asdict(config),
            **result.summary(),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "temperatures": {
            condition: {str(t): [round(v, 3), round(o, 3)] for t, (v, o) in maes.items()}
            for condition, maes in tried.items()
        },
        "evaluation": {report.condition: report.summary() for report in reports},
    }
    save_groove(result.model, out, metadata=metadata, overwrite=force)
    c = result.model.config
    typer.echo(
        f"saved {out} (best epoch {result.best_epoch} of {len(result.val_loss)}, val loss {min(result.val_loss):.4f}, "
        f"temperatures velocity / offset {c.velocity_temperature:g} / {c.offset_temperature:g} (bar 1 played), "
        f"{c.quantised_velocity_temperature:g} / {c.quantised_offset_temperature:g} (quantised), "
        f"{result.seconds:.0f} s wall, {result.cpu_seconds:.0f} s CPU, stopped: {result.stopped})"
    )


def evaluate_groove(
    data: Annotated[Path, typer.Option("--data", help=f"{DATASET_HELP}.")],
    model: Annotated[
        Path | None, typer.Option("--model", "-m", help="Groove model folder (default: the one shipped with jaki).")
    ] = None,
    split: Annotated[str, typer.Option(help=f"Split to score: {', '.join(SPLITS)}.")] = "test",
    seed: Annotated[int, typer.Option(help="Seeds the sampled velocities and offsets.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")] = False,
) -> None:
    """Score the groove model and its baselines on one split: velocity / offset MAE, feel-feature match, spreads."""
    from jaki.groove import GrooveData, load_groove
    from jaki.groove_evaluation import evaluate_groove as run

    dataset = load_dataset(data)
    for needed in ("train", split):
        require_split(dataset, needed, data)
    groove = load_groove(model)
    with Console(stderr=True).status("evaluating…"):
        reports = run(
            groove,
            GrooveData.from_split(dataset, "train"),
            GrooveData.from_split(dataset, split),
            split=split,
            seed=seed,
        )
    if as_json:
        typer.echo(json.dumps([report.to_json() for report in reports], indent=2))
        return
    stdout = Console()
    for report in reports:
        for table in groove_tables(report):
            stdout.print(table)


def groove_tables(report) -> list[Table]:
    """One condition's evaluation as two rich tables, headline figures and spreads (also used by the benchmark)."""
    title = f"groove on the {report.split} split ({report.n_loops:,} loops), bar 1 {report.condition}"
    headline = Table(title=title)
    spreads = Table(title=f"spread per part (std over hits), bar 1 {report.condition}: velocity (MIDI) / offset (ms)")
    for table in (headline, spreads):
        table.add_column("row", no_wrap=True)
    for column in ("vel. MAE", "offset MAE ms", "feat. KL", "feat. OA"):
        headline.add_column(column, justify="right")
    for part in PARTS:
        spreads.add_column(part, justify="right")
    spreads.add_row(
        "real",
        *(f"{report.real_velocity_spread[p]:.1f} / {report.real_offset_spread_ms[p]:.1f}" for p in PARTS),
    )
    for row in report.rows:
        figures = (row.velocity_mae, row.offset_mae_ms, row.mean_kl, row.mean_overlap)
        headline.add_row(row.name, *(f"{value:.3f}" for value in figures))
        spreads.add_row(row.name, *(f"{row.velocity_spread[p]:.1f} / {row.offset_spread_ms[p]:.1f}" for p in PARTS))
    features = ", ".join(report.rows[0].feature_kl)
    headline.caption = f"feat. KL / OA: generated vs real bar 2s, mean over {features}."
    return [headline, spreads]
