"""Why the shipped model looks the way it does: each design choice taken away (or a size changed), trained on the
same data with the same budget and seed, scored on the **validation** split (the test split stays for the final
table in benchmarks/continuation.py).

    .venv/bin/python benchmarks/continuation_variants.py --data /work/gmd.npz [--variants NAME ...] [--json FILE]

About 4–5 minutes of training per variant on one CPU thread. Every variant gets the shipped logit adjustment
(τ from TrainConfig); "val NLL" is before it, the other columns after it.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from jaki.dataset import load_dataset
from jaki.evaluation import score_model
from jaki.model import ModelConfig, count_parameters
from jaki.train import TrainConfig, train

SHIPPED = ModelConfig()
VARIANTS: dict[str, ModelConfig] = {
    "shipped": SHIPPED,
    "no copy gate": replace(SHIPPED, copy_gate=False),
    "no bar-1 feed": replace(SHIPPED, feed_bar1=False),
    "unidirectional encoder": replace(SHIPPED, bidirectional=False),
    "unidirectional, hidden 256": replace(SHIPPED, bidirectional=False, hidden=256),
    "dropout 0.3": replace(SHIPPED, dropout=0.3),
}


def markdown(rows: list[dict]) -> str:
    header = "| variant | parameters | train s | best epoch | val NLL | val NLL adj. | acc. | F1 micro | F1 mean | feat. KL |"
    lines = [header, "|" + "---|" * header.count(" | ") + "---|"]
    for row in rows:
        figures = [row[k] for k in ("val_nll", "val_nll_adjusted", "accuracy", "micro_f1", "mean_f1", "feature_kl")]
        cells = [row["variant"], f"{row['parameters']:,}", str(row["seconds"]), str(row["best_epoch"])]
        lines.append("| " + " | ".join(cells + [f"{value:.4f}" for value in figures]) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="dataset file (jaki dataset build)")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()
    torch.set_num_threads(1)

    dataset = load_dataset(args.data)
    train_bars, val_bars = dataset.training_arrays("train"), dataset.training_arrays("validation")
    console = Console()
    rows = []
    for name in args.variants:
        console.print(f"training {name}…")
        result = train(*train_bars, *val_bars, VARIANTS[name], TrainConfig())
        scores = score_model(name, result.model, val_bars, torch.Generator().manual_seed(0))
        rows.append(
            {
                "variant": name,
                "parameters": count_parameters(result.model),
                "seconds": round(result.seconds),
                "best_epoch": result.best_epoch,
                "val_nll": result.best_val_loss,
                "val_nll_adjusted": result.adjusted_val_loss,
                "accuracy": scores.accuracy,
                "micro_f1": scores.micro_f1,
                "mean_f1": scores.mean_f1,
                "feature_kl": scores.mean_kl,
            }
        )

    table = Table(title=f"continuation variants on the validation split ({len(val_bars[0]):,} loops)")
    columns = ("params", "s", "epoch", "NLL", "NLL adj.", "acc.", "F1 micro", "F1 mean", "feat. KL")
    table.add_column("variant", no_wrap=True)
    for column in columns:
        table.add_column(column, justify="right")
    for row in rows:
        figures = [row[k] for k in ("val_nll", "val_nll_adjusted", "accuracy", "micro_f1", "mean_f1", "feature_kl")]
        table.add_row(
            row["variant"],
            f"{row['parameters']:,}",
            str(row["seconds"]),
            str(row["best_epoch"]),
            *(f"{value:.4f}" for value in figures),
        )
    console.print(table)
    print(markdown(rows))  # plain print: rich would cut the columns in a narrow terminal
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
