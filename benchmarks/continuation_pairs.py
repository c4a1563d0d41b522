"""How the continuation varies its seed: GMD test and programmed pairs side by side, one table.

    .venv/bin/python benchmarks/continuation_pairs.py --data gmd.npz --pairs ../shared/data/programmed/bardet200.json

The same evaluation as ``jaki evaluate`` (``--data`` split / ``--pairs``), cut to what a user hears of it: does bar
2 copy or strip bar 1 (copies, cells changed, bar-1 kicks and snares kept, against the real bar 2s), and are its
changes better placed than as many random flips of bar 1 (hit F1 against the real bar 2). The targets of issue
11 are checked under the table: copies at most 15 points above the real rate, cells changed within 0.6–1.4× the
real mean, default output above the random flips on micro and mean F1, the most likely bar above copy-bar-1 on
GMD, the model's NLL below every baseline's.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from jaki.conditions import programmed_conditions, split_conditions
from jaki.dataset import load_dataset
from jaki.evaluation import RANDOM_FLIPS, Contestant, EvaluationReport, evaluate
from jaki.pairs import load_pairs
from jaki.weights import load_model

MODEL = "jaki"
COPY = "copy bar 1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="dataset file (jaki dataset build)")
    parser.add_argument("--pairs", type=Path, required=True, help="pattern-pair file (bardet200.json's shape)")
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: the shipped model)")
    parser.add_argument("--split", default="test", help="dataset split to score (default: test)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    dataset, pairs, loaded = load_dataset(args.data), load_pairs(args.pairs), load_model(args.model)
    models = {MODEL: Contestant(loaded.model, loaded.decoding)}
    train = dataset.training_arrays("train")
    reports = {
        f"GMD {args.split}": evaluate(
            models, train, dataset.training_arrays(args.split), conditions=split_conditions(dataset, args.split)
        ),
        args.pairs.name: evaluate(
            models, train, (pairs.bar1, pairs.bar2), conditions=programmed_conditions(len(pairs)), split=args.pairs.name
        ),
    }
    console = Console(width=200)
    console.print(f"default decoding: {loaded.decoding.describe()}")
    for label, report in reports.items():
        console.print(side_table(label, report))
        for line in checks(report, gmd=label.startswith("GMD")):
            console.print(line)


def side_table(label: str, report: EvaluationReport) -> Table:
    table = Table(title=f"{label} ({report.n_loops:,} loops)")
    for column in ("row", "NLL", "F1 micro", "F1 mean", "copies", "cells changed", "kick kept", "snare kept"):
        table.add_column(column, justify="right" if column != "row" else "left")
    rows = [(row.name, row.nll, row.micro_f1, row.mean_f1, row.variation) for row in report.rows]
    rows.append(("real bar 2", None, None, None, report.real))
    for name, nll, micro, mean, variation in rows:
        table.add_row(
            name,
            "—" if nll is None else f"{nll:.3f}",
            "—" if micro is None else f"{micro:.3f}",
            "—" if mean is None else f"{mean:.3f}",
            f"{100 * variation.copies:.1f} %",
            f"{variation.cells_changed:.2f}",
            f"{100 * variation.kept['kick']:.1f} %",
            f"{100 * variation.kept['snare']:.1f} %",
        )
    return table


def checks(report: EvaluationReport, *, gmd: bool) -> list[str]:
    default, flips = report.row(MODEL), report.row(RANDOM_FLIPS)
    greedy = next((row for row in report.rows if row.name == f"{MODEL}, most likely bar"), default)
    ratio = default.variation.cells_changed / report.real.cells_changed
    baselines = [row.nll for row in report.rows if row.nll is not None and not row.name.startswith(MODEL)]
    results = [
        ("copies ≤ real + 15 points", default.variation.copies <= report.real.copies + 0.15),
        (f"cells changed {ratio:.2f}× real, within 0.6–1.4×", 0.6 <= ratio <= 1.4),
        (
            f"micro F1 {default.micro_f1:.3f} vs random flips {flips.micro_f1:.3f}, "
            f"mean F1 {default.mean_f1:.3f} vs {flips.mean_f1:.3f}",
            default.micro_f1 > flips.micro_f1 and default.mean_f1 > flips.mean_f1,
        ),
        (f"NLL {default.nll:.3f} below every baseline's ({min(baselines):.3f})", default.nll < min(baselines)),
    ]
    if gmd:
        copy = report.row(COPY)
        results.append(
            (
                f"most likely bar micro F1 {greedy.micro_f1:.3f} vs copy bar 1 {copy.micro_f1:.3f}",
                greedy.micro_f1 > copy.micro_f1,
            )
        )
    return [f"  {'PASS' if ok else 'FAIL'}  {text}" for text, ok in results]


if __name__ == "__main__":
    main()
