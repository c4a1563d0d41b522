"""The groove model against its three baselines on GMD test, both conditions, in one run; and what it costs.

    .venv/bin/python benchmarks/groove.py --data /work/gmd.npz [--model DIR]

Prints, for bar 1 as played and bar 1 quantised: velocity / offset MAE and the distribution match (jaki.
groove_evaluation), the per-feature KL and overlapping area, the per-part spreads beside the real ones, a Markdown
copy of the headline table for the README, then the time to load the model and to play the bars of one
generation (seed + one bar, as `jaki generate` does), on one thread.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from jaki.cli.groove import groove_tables
from jaki.dataset import load_dataset
from jaki.feel import FeelOptions, perform
from jaki.groove import GrooveData, load_groove
from jaki.groove_evaluation import GrooveReport, evaluate_groove
from jaki.grooves import get_groove

REPEATS = 50  # timed generations; the median is reported


def markdown(reports: list[GrooveReport]) -> str:
    header = ["bar 1", "row", "vel. MAE", "offset MAE (ms)", "feat. KL", "feat. OA"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for report in reports:
        for row in report.rows:
            figures = (row.velocity_mae, row.offset_mae_ms, row.mean_kl, row.mean_overlap)
            lines.append(f"| {report.condition} | {row.name} | " + " | ".join(f"{v:.3f}" for v in figures) + " |")
    return "\n".join(lines)


def feature_table(report: GrooveReport) -> Table:
    table = Table(title=f"distribution match per feature, bar 1 {report.condition}: KL / overlapping area")
    table.add_column("feature", no_wrap=True)
    for row in report.rows:
        table.add_column(row.name, justify="right")
    for feature in report.rows[0].feature_kl:
        cells = [f"{row.feature_kl[feature]:.3f} / {row.feature_overlap[feature]:.3f}" for row in report.rows]
        table.add_row(feature, *cells)
    return table


def timing(model_dir: Path | None) -> Table:
    """Load time and the time to play a generation's seed and one bar (median of REPEATS)."""
    started = time.perf_counter()
    model = load_groove(model_dir)
    load_ms = 1000 * (time.perf_counter() - started)
    seed = get_groove("funk").pattern
    times = []
    for i in range(REPEATS):
        started = time.perf_counter()
        perform(
            model, seed, seed, None, tempo_bpm=96.0, options=FeelOptions(), generator=torch.Generator().manual_seed(i)
        )
        times.append(1000 * (time.perf_counter() - started))
    table = Table(title="cost on one thread (ms)")
    for column in ("load model", "play seed + 1 bar (median)", "p90"):
        table.add_column(column, justify="right")
    table.add_row(f"{load_ms:.1f}", f"{np.median(times):.2f}", f"{np.percentile(times, 90):.2f}")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="dataset file from 'jaki dataset build'")
    parser.add_argument("--model", type=Path, default=None, help="groove model folder (default: the shipped one)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    dataset = load_dataset(args.data)
    train, data = GrooveData.from_split(dataset, "train"), GrooveData.from_split(dataset, args.split)
    reports = evaluate_groove(load_groove(args.model), train, data, split=args.split, seed=args.seed)
    console = Console(width=140)
    for report in reports:
        for table in (*groove_tables(report), feature_table(report)):
            console.print(table)
    console.print(timing(args.model))
    print(markdown(reports))


if __name__ == "__main__":
    main()
