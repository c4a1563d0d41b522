"""How the logit adjustment τ trades likelihood for rare-part hits: one trained model, τ swept, one table per split.

    .venv/bin/python benchmarks/logit_adjustment.py --data /work/gmd.npz

The model's training is untouched by τ (the offset -τ·log(train category frequency) is set afterwards), so one set
of weights serves the whole sweep. τ is chosen on the validation split; the test split shows that the choice holds.
Copy-bar-1 is printed under each table: on the mean of the five part F1s it is the baseline to beat.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from jaki.conditions import split_conditions
from jaki.dataset import load_dataset
from jaki.evaluation import copy_bar1_probs, score_model, score_step_table
from jaki.train import category_frequencies
from jaki.weights import load_model

STRENGTHS = (0.0, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="dataset file (jaki dataset build)")
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: the shipped model)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    console = Console()
    dataset = load_dataset(args.data)
    loaded = load_model(args.model)
    shipped = loaded.metadata.get("training", {}).get("config", {}).get("logit_adjustment")
    frequencies = category_frequencies(dataset.training_arrays("train")[1])
    for split in ("validation", "test"):
        bars = dataset.training_arrays(split)
        conditions = split_conditions(dataset, split)
        codes = (
            np.stack([conditions[name] for name in loaded.config.conditions], axis=1)
            if loaded.config.conditions
            else None
        )
        table = Table(title=f"{split} split, {len(bars[0]):,} loops (model trained with τ = {shipped})")
        for column in ("τ", "NLL", "step acc.", "F1 open", "F1 toms", "F1 micro", "F1 mean", "feature KL"):
            table.add_column(column, justify="right")
        rows = []
        for strength in STRENGTHS:
            loaded.model.set_logit_adjustment(frequencies, strength)
            generator = torch.Generator().manual_seed(0)
            rows.append((f"{strength:g}", score_model("", loaded.model, bars, generator, codes=codes)))
        rows.append(("copy bar 1", score_step_table("", copy_bar1_probs(bars[0]), bars, np.random.default_rng(0))))
        for name, s in rows:
            cells = (s.nll, s.accuracy, s.f1["open"], s.f1["toms"], s.micro_f1, s.mean_f1, s.mean_kl)
            table.add_row(name, *(f"{value:.4f}" for value in cells))
        console.print(table)


if __name__ == "__main__":
    main()
