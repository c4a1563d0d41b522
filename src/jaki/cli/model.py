"""``jaki train`` and ``jaki evaluate``: fit a continuation model to a dataset, and score it against baselines."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Annotated

import torch
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from jaki.cli import DATASET_HELP
from jaki.conditions import CONDITIONS, ExampleConfig, programmed_conditions, split_conditions, training_examples
from jaki.dataset import SPLITS, dataset_bands, load_dataset, require_split
from jaki.decoding import Decoding
from jaki.errors import JakiInputError
from jaki.evaluation import KEPT_PARTS, Contestant, EvaluationReport
from jaki.evaluation import evaluate as evaluate_models
from jaki.features import TUNER_FEATURES, bands_to_json
from jaki.generate import MAX_SEED_VALUE
from jaki.io import check_output_folder
from jaki.model import ARCHITECTURES, ModelConfig
from jaki.pairs import load_pairs
from jaki.pattern import PARTS
from jaki.train import EpochStats, TrainConfig, join_processes, leave_processes
from jaki.train import train as train_model
from jaki.weights import CONFIG_FILE, WEIGHTS_FILE, config_dataclass, load_model, save_model

ORIG_BASELINE = "orig (same data and budget)"


def train(
    data: Annotated[Path, typer.Option("--data", help=f"{DATASET_HELP}.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Model folder to write (model.safetensors + config.json).")],
    arch: Annotated[str, typer.Option(help=f"Architecture: {' or '.join(ARCHITECTURES)}.")] = "lstm",
    hidden: Annotated[
        int, typer.Option(min=1, help="lstm: hidden units of the decoder and of each encoder direction.")
    ] = ModelConfig.hidden,
    bidirectional: Annotated[
        bool,
        typer.Option("--bidirectional/--unidirectional", help="lstm: whether the encoder also reads bar 1 backwards."),
    ] = ModelConfig.bidirectional,
    epochs: Annotated[int, typer.Option(min=1, max=100_000, help="Most passes over the train split.")] = (
        TrainConfig.epochs
    ),
    seed: Annotated[
        int, typer.Option(min=0, max=MAX_SEED_VALUE, help="Seeds initialisation, dropout and shuffling.")
    ] = TrainConfig.seed,
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size",
            min=1,
            max=1 << 16,
            help="Loops per gradient step, over all processes under torchrun (each takes its share).",
        ),
    ] = TrainConfig.batch_size,
    logit_adjustment: Annotated[
        float,
        typer.Option(
            min=0,
            max=10,
            help="After training, offset each category's logit by -τ·log(its train frequency): "
            "the argmax then plays rare parts (open cymbals, toms) more. 0 = off.",
        ),
    ] = TrainConfig.logit_adjustment,
    max_minutes: Annotated[
        float | None,
        typer.Option("--max-minutes", min=0, max=7 * 24 * 60, help="Stop after the epoch that passes this wall time."),
    ] = None,
    conditions: Annotated[
        str,
        typer.Option(
            help=f"What bar 2 is conditioned on, comma-separated from {', '.join(CONDITIONS)}, or 'none' "
            "(see jaki.conditions: programmed copies of the loops, fills, place in the phrase)."
        ),
    ] = ",".join(CONDITIONS),
    temperature: Annotated[
        float, typer.Option(min=0, max=10, help="The saved default sampling temperature (0 = most likely bar).")
    ] = 0.0,
    top_p: Annotated[
        float, typer.Option("--top-p", min=0.01, max=1, help="The saved default nucleus (1 = every category).")
    ] = 1.0,
    keep_share: Annotated[
        float,
        typer.Option(
            "--keep-share",
            min=0,
            max=1,
            help="The saved default rule: a sampled bar 2 keeps at least this share of each part's bar-1 hits.",
        ),
    ] = 0.0,
    threads: Annotated[
        int,
        typer.Option(
            min=1,
            max=256,
            help="CPU threads for torch. 1 by default: on a shared 2-core machine torch's own default ran 19× "
            "slower per epoch (its threads wait on each other); raise it on cores of your own.",
        ),
    ] = 1,
    force: Annotated[bool, typer.Option("--force", help="Overwrite a model already in --out.")] = False,
) -> None:
    """Train a continuation model on the train split, stopping early on the validation split, and save it.

    Under torchrun (``torchrun --nproc-per-node N --no-python jaki train …``) N processes share each step; rank 0
    prints and saves."""
    if arch not in ARCHITECTURES:
        raise JakiInputError(f"--arch {arch!r}: unknown (expected one of {', '.join(ARCHITECTURES)})")
    # Refuse before training, not after: a finished model must not fail to save.
    check_output_folder(out, (WEIGHTS_FILE, CONFIG_FILE), overwrite=force)
    names = () if conditions.strip() == "none" else tuple(name.strip() for name in conditions.split(","))
    unknown = [name for name in names if name not in CONDITIONS]
    if unknown or (names and arch != "lstm"):
        raise JakiInputError(
            f"--conditions {conditions!r}: expected 'none' or names from {', '.join(CONDITIONS)} (lstm only)"
        )
    decoding = Decoding(temperature=temperature, top_p=top_p, keep_share=keep_share)
    torch.set_num_threads(threads)
    dataset = load_dataset(data)
    require_split(dataset, "train", data), require_split(dataset, "validation", data)
    example_config = ExampleConfig(seed=seed)
    examples = training_examples(dataset, "train", names, example_config)
    val_examples = training_examples(
        dataset, "validation", names, ExampleConfig(programmed_copies=False, fill_partners=0)
    )
    model_config = ModelConfig(arch=arch, hidden=hidden, bidirectional=bidirectional, conditions=names)
    world = join_processes()
    train_config = TrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        logit_adjustment=logit_adjustment,
        max_minutes=max_minutes,
        device=world.device,
    )
    console = Console(stderr=True, quiet=not world.main)  # rank 0 alone reports
    console.print(
        f"training {arch} on {len(examples):,} loops (validation {len(val_examples):,}), "
        f"{torch.get_num_threads()} thread(s)" + (f" × {world.world_size} processes" if world.world_size > 1 else "")
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

        result = train_model(
            examples.bar1,
            examples.bar2,
            val_examples.bar1,
            val_examples.bar2,
            model_config,
            train_config,
            progress=report,
            codes=examples.codes,
            val_codes=val_examples.codes,
        )
    leave_processes()
    if not world.main:
        return
    validation = evaluate_models(
        {arch: Contestant(result.model, decoding)},
        dataset.training_arrays("train"),
        dataset.training_arrays("validation"),
        conditions=split_conditions(dataset, "validation"),
        split="validation",
    )
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
            "examples": {**asdict(example_config), "loops": len(examples)},
            **result.summary(),
            "threads": torch.get_num_threads(),
            "processes": world.world_size,
            "torch": torch.__version__,
        },
        "evaluation": validation.summary(),
        "decoding": asdict(decoding),
    }
    save_model(result.model, out, metadata=metadata, overwrite=force)
    typer.echo(
        f"saved {out} ({arch}, best epoch {result.best_epoch} of {len(result.history)}, "
        f"val loss {result.best_val_loss:.4f} nats/step ({result.adjusted_val_loss:.4f} with logit adjustment "
        f"{logit_adjustment:g}), {result.seconds:.0f} s, stopped: {result.stopped})"
    )


def evaluate(
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help=f"{DATASET_HELP} (its --split is scored unless --pairs).",
        ),
    ] = None,
    pairs: Annotated[
        Path | None,
        typer.Option(
            "--pairs",
            help="Score programmed bar 1 → bar 2 pairs from this JSON file instead (bardet200.json's shape); "
            "with --data, its train split fits the step-table baselines.",
        ),
    ] = None,
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
    seed: Annotated[
        int, typer.Option(min=0, max=MAX_SEED_VALUE, help="Seeds the sampled bar 2s and the random-flip baseline.")
    ] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")] = False,
) -> None:
    """Score a model and the baselines: NLL, step accuracy, hit F1, tuner-feature match, and how bar 2 varies."""
    if baseline_orig is not None and train_orig:
        raise JakiInputError("--baseline-orig and --train-orig: give one of them, not both")
    if data is None and pairs is None:
        raise JakiInputError("give --data DATASET (a split of it is scored) or --pairs FILE.json (or both)")
    if train_orig and data is None:
        raise JakiInputError("--train-orig needs --data (the orig baseline is trained on its train split)")
    dataset = load_dataset(data) if data is not None else None
    train_bars = require_split(dataset, "train", data) if dataset is not None else None
    if pairs is not None:
        pair_set = load_pairs(pairs)
        eval_bars, conditions, label = (pair_set.bar1, pair_set.bar2), programmed_conditions(len(pair_set)), pairs.name
    else:
        eval_bars, conditions, label = require_split(dataset, split, data), split_conditions(dataset, split), split
    loaded = load_model(model)
    console = Console(stderr=True)
    models: dict[str, Contestant] = {f"jaki ({loaded.config.arch})": Contestant(loaded.model, loaded.decoding)}
    if baseline_orig is not None:
        models[ORIG_BASELINE] = Contestant(load_model(baseline_orig).model)
    elif train_orig:
        record = loaded.metadata.get("training", {})
        budget = config_dataclass(
            TrainConfig,
            record.get("config", {}) if isinstance(record, dict) else record,
            (model or Path("shipped model")) / CONFIG_FILE,
            key="training.config",
            what="training record",
            ignore_unknown=True,  # a record from an older jaki may hold settings this one dropped
        )
        budget = replace(budget, device="cpu")  # the budget, not the machine: a GPU-trained record runs here too
        with console.status(f"training the orig baseline ({budget.epochs} epochs at most)…"):
            result = train_model(
                *train_bars, *require_split(dataset, "validation", data), ModelConfig(arch="orig"), budget
            )
        models[ORIG_BASELINE] = Contestant(result.model)
    with console.status("evaluating…") as status:
        report = evaluate_models(
            models,
            train_bars,
            eval_bars,
            conditions=conditions,
            split=label,
            seed=seed,
            progress=lambda name: status.update(f"scoring {name}…"),
        )
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
        return
    stdout = Console()
    for table in report_tables(report):
        stdout.print(table)
    console.print(f"(jaki plays by default: {loaded.decoding.describe()})")
    strength = loaded.metadata.get("training", {}).get("config", {}).get("logit_adjustment")
    if strength is not None:
        console.print(f"(jaki's logits carry the rare-category adjustment τ = {strength:g}; 0 = plain argmax)")
    if ORIG_BASELINE not in models and data is not None:
        console.print("(no orig baseline: add --train-orig or --baseline-orig DIR)")


def report_tables(report: EvaluationReport) -> list[Table]:
    """The evaluation as three narrow rich tables: headline figures, per-part F1, and how bar 2 varies from bar 1
    (also used by the benchmarks)."""
    where = f"the {report.split} split" if report.split in SPLITS else report.split
    headline = Table(title=f"continuation on {where} ({report.n_loops:,} loops)")
    parts = Table(title="hit F1 of the bar 2 each row plays, per part")
    variation = Table(title="how bar 2 varies from bar 1, per bar")
    moves = Table(title="hits added / removed per bar, per part")
    for table in (headline, parts, variation, moves):
        table.add_column("row", no_wrap=True)
    for column in ("NLL", "acc.", "F1 micro", "F1 mean", "feat. KL", "feat. OA"):
        headline.add_column(column, justify="right")
    for part in PARTS:
        parts.add_column(part, justify="right")
    for column in ("copies of bar 1", "cells changed", *(f"bar-1 {part} kept" for part in KEPT_PARTS)):
        variation.add_column(column, justify="right")
    for part in PARTS:
        moves.add_column(part, justify="right")
    for row in report.rows:
        figures = (row.accuracy, row.micro_f1, row.mean_f1, row.mean_kl, row.mean_overlap)
        nll = "—" if row.nll is None else f"{row.nll:.3f}"
        headline.add_row(row.name, nll, *(f"{value:.3f}" for value in figures))
        parts.add_row(row.name, *(f"{row.f1[part]:.3f}" for part in PARTS))
    for name, figures in [*((row.name, row.variation) for row in report.rows), ("real bar 2", report.real)]:
        variation.add_row(
            name,
            f"{100 * figures.copies:.1f} %",
            f"{figures.cells_changed:.2f}",
            *(f"{100 * figures.kept[part]:.1f} %" for part in KEPT_PARTS),
        )
        moves.add_row(name, *(f"+{figures.added[part]:.2f} −{figures.removed[part]:.2f}" for part in PARTS))
    headline.caption = (
        "NLL: nats/step of the true bar 2 (baselines clipped at 1e-7; — = no likelihood). acc., F1: the bar 2 the "
        "row plays; F1 mean = mean of the part F1s. feat. KL / OA: its bars vs the real bar 2s, mean over "
        f"{', '.join(TUNER_FEATURES)}."
    )
    return [headline, parts, variation, moves]
