"""``jaki train`` and ``jaki evaluate``: fit a continuation model to a dataset file, and score it against baselines."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import torch
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from jaki.dataset import SPLITS, dataset_bands, load_dataset, require_split
from jaki.errors import JakiInputError
from jaki.evaluation import EvaluationReport
from jaki.evaluation import evaluate as evaluate_models
from jaki.features import TUNER_FEATURES, bands_to_json
from jaki.io import check_output_folder
from jaki.model import ARCHITECTURES, ContinuationModel, ModelConfig
from jaki.pattern import PARTS
from jaki.train import EpochStats, TrainConfig
from jaki.train import train as train_model
from jaki.weights import CONFIG_FILE, WEIGHTS_FILE, load_model, save_model

ORIG_BASELINE = "orig (same data and budget)"


def train(
    data: Annotated[Path, typer.Option("--data", help="Dataset file from 'jaki dataset build'.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Model folder to write (model.safetensors + config.json).")],
    arch: Annotated[str, typer.Option(help=f"Architecture: {' or '.join(ARCHITECTURES)}.")] = "lstm",
    hidden: Annotated[
        int, typer.Option(min=1, help="lstm: hidden units of the decoder and of each encoder direction.")
    ] = ModelConfig.hidden,
    bidirectional: Annotated[
        bool,
        typer.Option("--bidirectional/--unidirectional", help="lstm: whether the encoder also reads bar 1 backwards."),
    ] = ModelConfig.bidirectional,
    epochs: Annotated[int, typer.Option(min=1, help="Most passes over the train split.")] = TrainConfig.epochs,
    seed: Annotated[int, typer.Option(help="Seeds initialisation, dropout and shuffling.")] = TrainConfig.seed,
    logit_adjustment: Annotated[
        float,
        typer.Option(
            min=0,
            help="After training, offset each category's logit by -τ·log(its train frequency): "
            "the argmax then plays rare parts (open cymbals, toms) more. 0 = off.",
        ),
    ] = TrainConfig.logit_adjustment,
    max_minutes: Annotated[
        float | None, typer.Option("--max-minutes", min=0, help="Stop after the epoch that passes this wall time.")
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(
            min=1, help="CPU threads for torch (default: torch's; 1 is fastest when other jobs share the cores)."
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite a model already in --out.")] = False,
) -> None:
    """Train a continuation model on the train split, stopping early on the validation split, and save it."""
    if arch not in ARCHITECTURES:
        raise JakiInputError(f"--arch {arch!r}: unknown (expected one of {', '.join(ARCHITECTURES)})")
    # Refuse before training, not after: a finished model must not fail to save.
    check_output_folder(out, (WEIGHTS_FILE, CONFIG_FILE), overwrite=force)
    if threads is not None:
        torch.set_num_threads(threads)
    dataset = load_dataset(data)
    train_bars, val_bars = require_split(dataset, "train", data), require_split(dataset, "validation", data)
    model_config = ModelConfig(arch=arch, hidden=hidden, bidirectional=bidirectional)
    train_config = TrainConfig(epochs=epochs, seed=seed, logit_adjustment=logit_adjustment, max_minutes=max_minutes)
    console = Console(stderr=True)
    console.print(
        f"training {arch} on {len(train_bars[0]):,} loops (validation {len(val_bars[0]):,}), "
        f"{torch.get_num_threads()} thread(s)"
    )
    with Progress(
        TextColumn("epoch"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("", total=epochs)

        def report(stats: EpochStats) -> None:
            line = (
                f"epoch {stats.epoch:3d}  loss {stats.train_loss:.4f}  val loss {stats.val_loss:.4f}  "
                f"{stats.seconds:6.1f} s{'  best' if stats.best else ''}"
            )
            progress.console.print(line, highlight=False)
            progress.update(task, completed=stats.epoch, description=f"val loss {stats.val_loss:.4f}")

        result = train_model(*train_bars, *val_bars, model_config, train_config, progress=report)
    validation = evaluate_models({arch: result.model}, train_bars, val_bars, split="validation")
    metadata = {
        "bands": bands_to_json(dataset_bands(dataset)),
        "dataset": {
            "file": data.name,
            "content_hash": dataset.content_hash(),
            "format_version": dataset.meta.get("format_version"),
            "loops": {split: int(dataset.split_mask(split).sum()) for split in SPLITS},
        },
        "training": {
            "config": asdict(train_config),
            **result.summary(),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "evaluation": validation.summary(),
    }
    save_model(result.model, out, metadata=metadata, overwrite=force)
    typer.echo(
        f"saved {out} ({arch}, best epoch {result.best_epoch} of {len(result.history)}, "
        f"val loss {result.best_val_loss:.4f} nats/step ({result.adjusted_val_loss:.4f} with logit adjustment "
        f"{logit_adjustment:g}), {result.seconds:.0f} s, stopped: {result.stopped})"
    )


def evaluate(
    data: Annotated[Path, typer.Option("--data", help="Dataset file from 'jaki dataset build'.")],
    model: Annotated[
        Path | None, typer.Option("--model", "-m", help="Model folder (default: the model shipped with jaki).")
    ] = None,
    split: Annotated[str, typer.Option(help=f"Split to score: {', '.join(SPLITS)}.")] = "test",
    baseline_orig: Annotated[
        Path | None, typer.Option("--baseline-orig", help="A trained 'orig' model folder to add as a baseline.")
    ] = None,
    train_orig: Annotated[
        bool, typer.Option("--train-orig", help="Train the 'orig' baseline here, with the model's recorded budget.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seeds the sampled bar 2s of the feature match.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")] = False,
) -> None:
    """Score a model and the baselines on one split: NLL, step accuracy, hit F1, tuner-feature match."""
    if baseline_orig is not None and train_orig:
        raise JakiInputError("--baseline-orig and --train-orig: give one of them, not both")
    dataset = load_dataset(data)
    train_bars, eval_bars = require_split(dataset, "train", data), require_split(dataset, split, data)
    loaded = load_model(model)
    console = Console(stderr=True)
    models: dict[str, ContinuationModel] = {f"jaki ({loaded.config.arch})": loaded.model}
    if baseline_orig is not None:
        models[ORIG_BASELINE] = load_model(baseline_orig).model
    elif train_orig:
        budget = TrainConfig.from_dict(loaded.metadata.get("training", {}).get("config", {}))
        with console.status(f"training the orig baseline ({budget.epochs} epochs at most)…"):
            result = train_model(
                *train_bars, *require_split(dataset, "validation", data), ModelConfig(arch="orig"), budget
            )
        models[ORIG_BASELINE] = result.model
    with console.status("evaluating…") as status:
        report = evaluate_models(
            models,
            train_bars,
            eval_bars,
            split=split,
            seed=seed,
            progress=lambda name: status.update(f"scoring {name}…"),
        )
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
        return
    stdout = Console()
    for table in report_tables(report):
        stdout.print(table)
    strength = loaded.metadata.get("training", {}).get("config", {}).get("logit_adjustment")
    if strength is not None:
        console.print(f"(jaki's logits carry the rare-category adjustment τ = {strength:g}; 0 = plain argmax)")
    if ORIG_BASELINE not in models:
        console.print("(no orig baseline: add --train-orig or --baseline-orig DIR)")


def report_tables(report: EvaluationReport) -> list[Table]:
    """The evaluation as two narrow rich tables, headline figures and per-part F1 (also used by the benchmark)."""
    headline = Table(title=f"continuation on the {report.split} split ({report.n_loops:,} loops)")
    parts = Table(title="hit F1 of the greedy bar 2, per part")
    for table in (headline, parts):
        table.add_column("model", no_wrap=True)
    for column in ("NLL", "acc.", "F1 micro", "F1 mean", "feat. KL", "feat. OA"):
        headline.add_column(column, justify="right")
    for part in PARTS:
        parts.add_column(part, justify="right")
    for row in report.rows:
        figures = (row.nll, row.accuracy, row.micro_f1, row.mean_f1, row.mean_kl, row.mean_overlap)
        headline.add_row(row.name, *(f"{value:.3f}" for value in figures))
        parts.add_row(row.name, *(f"{row.f1[part]:.3f}" for part in PARTS))
    headline.caption = (
        "NLL: nats/step of the true bar 2 (baselines clipped at 1e-7). acc., F1: greedy bar 2; F1 mean = mean "
        f"of the part F1s. feat. KL / OA: sampled vs real bar 2s, mean over {', '.join(TUNER_FEATURES)}."
    )
    return [headline, parts]
