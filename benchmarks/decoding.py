"""Choosing a model's default decoding: temperature × nucleus swept on GMD validation and programmed pairs.

    .venv/bin/python benchmarks/decoding.py --data gmd.npz --pairs ../shared/data/programmed/bardet200.json

For each setting, both sets: cells changed per bar as a ratio of the real bar 2s' (target 0.6–1.4), copies of bar
1 against the real rate (at most 15 points above), and how much better placed the changes are than as many random
flips (micro and mean F1 gains); and on the built-in grooves, the share of sampled bars in which every backbone
part (kick, snare, closed) keeps at least half its hits — a one-drop keeps its kick, a double kick stays one. The
shipped default is the setting whose worst F1 gain over both sets is largest among those that vary bar 1 like
real bars on both sets — cells changed within ``CHANGE_BAND`` of the real mean, the issue's 0.6–1.4× with a margin
so that the choice holds on programmed sets it was not chosen on — and keep the grooves' backbone in at least
``MIN_BACKBONE_KEPT`` of their bars; it is saved
with the model (``jaki train --temperature T --top-p P --keep-share K``). GMD test is not used here: it stays for
the README's figures.
"""

from __future__ import annotations

import argparse
from itertools import product
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from jaki.conditions import codes_for, programmed_conditions, split_conditions
from jaki.dataset import load_dataset
from jaki.decoding import KEPT_PARTS, Decoding
from jaki.evaluation import RANDOM_FLIPS, Contestant, evaluate
from jaki.grooves import groove_library
from jaki.pairs import load_pairs
from jaki.pattern import CATEGORY_PARTS, PARTS
from jaki.weights import load_model

TEMPERATURES = (1.0, 1.1, 1.2)
TOP_PS = (0.9, 0.95)
KEEP_SHARES = (0.0, 0.5)
MIN_BACKBONE_KEPT = 0.98
CHANGE_BAND = (0.7, 1.3)  # cells changed, × the real bar 2s', for a setting to be chosen
MAX_EXTRA_COPIES = 0.15  # copies of bar 1 at most this far above the real rate
GROOVE_DRAWS = 20  # sampled bars per built-in groove


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--pairs", type=Path, required=True)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--seeds", type=int, default=3, help="sampling seeds averaged per setting")
    args = parser.parse_args()
    torch.set_num_threads(1)
    dataset, pairs, loaded = load_dataset(args.data), load_pairs(args.pairs), load_model(args.model)
    sets = {
        "GMD validation": (dataset.training_arrays("validation"), split_conditions(dataset, "validation")),
        args.pairs.name: ((pairs.bar1, pairs.bar2), programmed_conditions(len(pairs))),
    }
    table = Table(title=f"default decoding sweep (mean of {args.seeds} seeds)")
    table.add_column("T")
    table.add_column("top-p")
    table.add_column("keep")
    for name in sets:
        for column in ("changed ×real", "copies (real)", "Δ micro F1", "Δ mean F1"):
            table.add_column(f"{name}: {column}", justify="right")
    table.add_column("grooves: backbone kept", justify="right")
    table.add_column("worst Δ F1", justify="right")
    grooves = np.stack([groove.pattern.categories() for groove in groove_library().values()])
    best = None
    for temperature, top_p, keep_share in product(TEMPERATURES, TOP_PS, KEEP_SHARES):
        decoding = Decoding(temperature=temperature, top_p=top_p, keep_share=keep_share)
        cells, worst, in_band = [], float("inf"), True
        for bars, conditions in sets.values():
            figures = [0.0, 0.0, 0.0, 0.0]
            for seed in range(args.seeds):
                report = evaluate(
                    {"jaki": Contestant(loaded.model, decoding)}, None, bars, conditions=conditions, seed=seed
                )
                default, flips = report.row("jaki"), report.row(RANDOM_FLIPS)
                figures[0] += default.variation.cells_changed / report.real.cells_changed / args.seeds
                figures[1] += (default.variation.copies - report.real.copies) / args.seeds
                figures[2] += (default.micro_f1 - flips.micro_f1) / args.seeds
                figures[3] += (default.mean_f1 - flips.mean_f1) / args.seeds
            in_band &= CHANGE_BAND[0] <= figures[0] <= CHANGE_BAND[1] and figures[1] <= MAX_EXTRA_COPIES
            worst = min(worst, figures[2], figures[3])
            cells += [f"{figures[0]:.2f}", f"{100 * figures[1]:+.1f} pt", f"{figures[2]:+.4f}", f"{figures[3]:+.4f}"]
        kept = backbone_kept(loaded.model, decoding, grooves)
        in_band &= kept >= MIN_BACKBONE_KEPT
        table.add_row(
            f"{temperature:g}",
            f"{top_p:g}",
            f"{keep_share:g}",
            *cells,
            f"{100 * kept:.1f} %",
            f"{worst:+.4f}" + ("" if in_band else " (out)"),
        )
        if in_band and (best is None or worst > best[0]):
            best = (worst, decoding)
    console = Console(width=220)
    console.print(table)
    console.print(f"chosen: {best[1].describe() if best else 'none in band'}")


def backbone_kept(model, decoding: Decoding, grooves: np.ndarray) -> float:
    """Share of sampled bars (``GROOVE_DRAWS`` per groove, programmed) whose backbone parts keep half their hits."""
    bar1 = np.repeat(grooves, GROOVE_DRAWS, axis=0)
    codes = np.tile(codes_for(model.config.conditions, programmed=1), (len(bar1), 1))
    generator = torch.Generator().manual_seed(0)
    bar2 = model.play(bar1, decoding, generator=generator, conditions=codes).numpy()
    columns = [PARTS.index(part) for part in KEPT_PARTS]
    before, after = CATEGORY_PARTS[bar1][..., columns].sum(1), CATEGORY_PARTS[bar2][..., columns].sum(1)
    return float(np.mean((after >= 0.5 * before).all(axis=1)))


if __name__ == "__main__":
    main()
