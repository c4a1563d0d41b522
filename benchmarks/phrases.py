"""Phrases, not copies: what ``jaki generate --bars 4`` (and ``--fill``) plays from programmed seeds.

    .venv/bin/python benchmarks/phrases.py --data gmd.npz --pairs ../shared/data/programmed/bardet200.json

Seeds: the built-in grooves and the bar 1s of the programmed pairs, each continued into a 4-bar phrase (the seed
and ``--bars 3``) with several random seeds, as a user would (the shipped model's default decoding, no targets).
Two tables:

* distinct bars per 4-bar phrase (the seed's included; 1 = one bar repeated), and how many of the 3 bars jaki
  plays are an exact copy of the seed;
* the last bar's features without and with ``--fill`` (hits per bar: all, toms, open cymbals; drum density),
  side by side with GMD's own beat bars and fill bars (bar 2 of *beat* / *fill* loops, every split): a fill
  should shift them the way a drummer's fill does.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from jaki.dataset import load_dataset
from jaki.features import TUNER_FEATURES, tuner_feature_values
from jaki.generate import Seed, generate, seed_from_groove
from jaki.grooves import groove_library
from jaki.pairs import load_pairs
from jaki.pattern import CATEGORY_PARTS, PARTS, STEPS_PER_BAR, Pattern
from jaki.weights import load_model

PHRASE_BARS = 4
TOMS, OPEN = PARTS.index("toms"), PARTS.index("open")
DRUM_DENSITY = TUNER_FEATURES.index("drum_density")


def bar_figures(categories: np.ndarray) -> dict[str, float]:
    """Mean hits per bar (all / toms / open) and drum density of (n, 16) bars."""
    hits = CATEGORY_PARTS[categories]
    return {
        "hits": float(hits.sum(axis=(1, 2)).mean()),
        "toms": float(hits[..., TOMS].sum(axis=1).mean()),
        "open": float(hits[..., OPEN].sum(axis=1).mean()),
        "drum density": float(tuner_feature_values(categories)[:, DRUM_DENSITY].mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--pairs", type=Path, required=True)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--seeds", type=int, default=5, help="random seeds per seed bar")
    args = parser.parse_args()
    torch.set_num_threads(1)
    loaded = load_model(args.model)
    pairs = load_pairs(args.pairs)
    seeds = {"built-in grooves": [seed_from_groove(name) for name in groove_library()]}
    seeds[args.pairs.name] = [
        Seed(Pattern.from_categories(bar), name) for bar, name in zip(pairs.bar1, pairs.names, strict=True)
    ]

    console = Console(width=160)
    distinct = Table(
        title=f"{PHRASE_BARS}-bar phrases ({args.seeds} random seeds per seed bar; {loaded.decoding.describe()})"
    )
    for column in (
        "seeds",
        "phrases",
        "distinct bars per phrase",
        "bars equal to the seed",
        "phrases of one bar repeated",
    ):
        distinct.add_column(column, justify="right" if column != "seeds" else "left")
    last_bars: dict[str, list[np.ndarray]] = {"no fill": [], "--fill": []}
    for label, bars in seeds.items():
        counts, copies, repeated = [], [], 0
        for seed in bars:
            for value in range(args.seeds):
                for fill, key in ((False, "no fill"), (True, "--fill")):
                    played = generate(seed, n_bars=PHRASE_BARS - 1, fill=fill, seed_value=value, model=loaded)
                    last_bars[key].append(played.continuation.bar(PHRASE_BARS - 2).categories())
                    if fill:
                        continue
                    bars = {seed.pattern.binary(), *played.continuation.bars()}
                    counts.append(len(bars))
                    copies.append(sum(bar == seed.pattern.binary() for bar in played.continuation.bars()))
                    repeated += len(bars) == 1
        distinct.add_row(
            label,
            f"{len(counts)}",
            f"{np.mean(counts):.2f} of {PHRASE_BARS}",
            f"{np.mean(copies):.2f} of {PHRASE_BARS - 1}",
            f"{repeated}",
        )
    console.print(distinct)

    dataset = load_dataset(args.data)
    bar2 = dataset.categories()[:, STEPS_PER_BAR:]
    columns = {
        "GMD beat bars": bar_figures(bar2[dataset.kind == "beat"]),
        "GMD fill bars": bar_figures(bar2[dataset.kind == "fill"]),
        "jaki bar 4": bar_figures(np.stack(last_bars["no fill"])),  # position 4 of 4, not a fill
        "jaki bar 4, --fill": bar_figures(np.stack(last_bars["--fill"])),
    }
    shift = Table(
        title="bar 4 of a phrase: mean per bar (GMD's fills against its beats; jaki's with and without --fill)"
    )
    shift.add_column("figure")
    for name in (*columns, "GMD shift", "jaki shift"):
        shift.add_column(name, justify="right")
    for figure in columns["GMD beat bars"]:
        values = [columns[name][figure] for name in columns]
        gmd_shift, jaki_shift = values[1] - values[0], values[3] - values[2]
        shift.add_row(figure, *(f"{v:.2f}" for v in values), f"{gmd_shift:+.2f}", f"{jaki_shift:+.2f}")
    console.print(shift)


if __name__ == "__main__":
    main()
