"""The continuation model's full evaluation: the shipped (or given) model against every baseline, in one run.

    .venv/bin/python benchmarks/continuation.py --data /work/gmd.npz

Trains the original jaki architecture (``orig``) on the same data with the model's recorded budget unless
``--baseline-orig DIR`` gives one (``jaki train --arch orig --conditions none`` trains the same one), scores
everything on the test split (jaki.evaluation: the model's default output and its most likely bar, the random-flip
baseline, the step tables; each loop under its own conditions), prints the table, a
Markdown copy for the README and the per-call cost of ``log_likelihood`` / ``generate`` (what the tuner pays).
``--record`` stores the summary in the model's config.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from jaki.cli.model import ORIG_BASELINE, report_tables
from jaki.conditions import split_conditions
from jaki.dataset import load_dataset
from jaki.evaluation import Contestant, EvaluationReport, evaluate
from jaki.features import TUNER_FEATURES
from jaki.model import ContinuationModel, ModelConfig, count_parameters
from jaki.pattern import N_CATEGORIES, PARTS
from jaki.train import TrainConfig, train
from jaki.weights import RESERVED_KEYS, load_model, save_model

BATCH_SIZES = (1, 16, 64, 256)


def markdown(report: EvaluationReport) -> str:
    header = ["model", "NLL", "step acc.", *(f"F1 {p}" for p in PARTS), "F1 micro", "F1 mean", "feat. KL", "feat. OA"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in report.rows:
        cells = [row.nll, row.accuracy, *(row.f1[p] for p in PARTS), row.micro_f1, row.mean_f1]
        cells += [row.mean_kl, row.mean_overlap]
        lines.append(f"| {row.name} | " + " | ".join("—" if v is None else f"{v:.3f}" for v in cells) + " |")
    return "\n".join(lines)


def feature_tables(report: EvaluationReport) -> list[Table]:
    """Per-feature KL and overlapping area of sampled vs real bar 2s, one table each (narrow enough for 80 columns)."""
    tables = []
    for title, values in (
        ("KL(real ‖ sampled), lower is better", "feature_kl"),
        ("overlapping area", "feature_overlap"),
    ):
        table = Table(title=f"tuner-feature match: {title}")
        table.add_column("model", no_wrap=True)
        for feature in TUNER_FEATURES:
            table.add_column(feature.replace("_", " "), justify="right")
        for row in report.rows:
            table.add_row(row.name, *(f"{getattr(row, values)[feature]:.3f}" for feature in TUNER_FEATURES))
        tables.append(table)
    return tables


def call_costs(model: ContinuationModel, repeats: int = 30) -> dict[str, float]:
    """Milliseconds per call: log_likelihood of B candidates for one bar 1, and greedy generation of B bars."""
    rng = np.random.default_rng(0)
    costs = {}
    for batch in BATCH_SIZES:
        bar1 = rng.integers(0, N_CATEGORIES, (1, 16))
        bar2 = rng.integers(0, N_CATEGORIES, (batch, 16))
        model.log_likelihood(bar1, bar2)  # warm-up
        start = time.perf_counter()
        for _ in range(repeats):
            model.log_likelihood(bar1, bar2)
        costs[f"log_likelihood B={batch}"] = 1000 * (time.perf_counter() - start) / repeats
        bars1 = np.repeat(bar1, batch, axis=0)
        start = time.perf_counter()
        for _ in range(repeats // 3):
            model.generate(bars1, greedy=True)
        costs[f"generate B={batch}"] = 1000 * (time.perf_counter() - start) / (repeats // 3)
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="dataset file (jaki dataset build)")
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: the shipped model)")
    parser.add_argument("--baseline-orig", type=Path, default=None, help="a trained orig model folder")
    parser.add_argument("--split", default="test")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads for training the orig baseline (1 is fastest on a busy machine)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the full report here")
    parser.add_argument("--record", action="store_true", help="store the summary in the model's config.json")
    args = parser.parse_args()

    console = Console()
    dataset = load_dataset(args.data)
    train_bars, val_bars = dataset.training_arrays("train"), dataset.training_arrays("validation")
    eval_bars = dataset.training_arrays(args.split)
    loaded = load_model(args.model)
    models = {f"jaki ({loaded.config.arch})": Contestant(loaded.model, loaded.decoding)}
    training = loaded.metadata.get("training", {})
    console.print(
        f"model: {count_parameters(loaded.model):,} parameters, trained {training.get('seconds', '?')} s "
        f"({training.get('epochs_run', '?')} epochs, best {training.get('best_epoch', '?')}, "
        f"{training.get('threads', '?')} threads)"
    )
    if args.baseline_orig is not None:
        models[ORIG_BASELINE] = Contestant(load_model(args.baseline_orig).model)
    else:
        budget = TrainConfig.from_dict(training.get("config", {}))
        torch.set_num_threads(args.threads)
        result = train(*train_bars, *val_bars, ModelConfig(arch="orig"), budget)
        console.print(
            f"orig baseline: {count_parameters(result.model):,} parameters, trained {result.seconds:.0f} s "
            f"({len(result.history)} epochs, best {result.best_epoch}, stopped: {result.stopped}), budget {budget}"
        )
        models[ORIG_BASELINE] = Contestant(result.model)
    torch.set_num_threads(1)

    start = time.perf_counter()
    report = evaluate(models, train_bars, eval_bars, conditions=split_conditions(dataset, args.split), split=args.split)
    for table in report_tables(report) + feature_tables(report):
        console.print(table)
    console.print(f"evaluation took {time.perf_counter() - start:.1f} s\n")
    print(markdown(report))  # plain print: rich would wrap the long lines

    costs = call_costs(loaded.model)
    console.print("\nper-call cost, 1 thread (ms): " + ", ".join(f"{k} {v:.2f}" for k, v in costs.items()))

    if args.json is not None:
        args.json.write_text(json.dumps({**report.to_json(), "call_ms": costs}, indent=2))
    if args.record:
        directory = args.model or Path(__file__).resolve().parents[1] / "src" / "jaki" / "assets" / "continuation"
        metadata = {k: v for k, v in loaded.metadata.items() if k not in RESERVED_KEYS}
        metadata["evaluation"] = report.summary()
        metadata["call_ms"] = {k: round(v, 3) for k, v in costs.items()}
        save_model(loaded.model, directory, metadata=metadata, overwrite=True)
        console.print(f"recorded the summary in {directory}/config.json")


if __name__ == "__main__":
    main()
