"""Edits a drummer could play: every single-feature request at every level on the built-in grooves.

    .venv/bin/python benchmarks/playable.py [--data gmd.npz] [--seeds 0,1]

Each built-in groove is continued (``--seeds``: 0 is the model's most likely bar, ``--temperature 0`` as the
issue's examples; any other value the shipped decoding, sampled with that seed) and tuned by the shipped agent
toward one feature at one level, as ``jaki generate --groove NAME --FEATURE LEVEL`` does. Per feature and level:
requests met, edited steps per tuning, tuned steps needing more than two hands that the untuned bar did not
already have, the share of edited steps that add two or more parts at once (stacking parts is the cheap way to a
feature), and the untuned bar's kick on beat 1 and backbeat kept. With ``--data``, the same share for real GMD
bar 1 → bar 2 changes (every split) is printed beside it.
"""

from __future__ import annotations

import argparse
from dataclasses import astuple, dataclass
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from jaki.dataset import load_dataset
from jaki.features import LEVELS, TUNER_FEATURES
from jaki.generate import generate, seed_from_groove
from jaki.grooves import groove_library
from jaki.pattern import CATEGORY_PARTS, PARTS, STEPS_PER_BAR
from jaki.tuner.problem import HAND_PARTS, EditRules
from jaki.weights import load_model

KICK, SNARE = PARTS.index("kick"), PARTS.index("snare")
BEAT_ONE, BACKBEAT = 0, (4, 12)


def stacked_share(before: np.ndarray, after: np.ndarray) -> tuple[int, int]:
    """(edited steps, of them those adding two or more parts at once) between (n, 16) category bars."""
    changed = before != after
    added = (CATEGORY_PARTS[after] & ~CATEGORY_PARTS[before]).sum(axis=-1)
    return int(changed.sum()), int((changed & (added >= 2)).sum())


def anchors(bar: np.ndarray) -> tuple[bool, bool]:
    """Whether a (16,) bar holds the kick on beat 1, and the snare on both backbeats."""
    hits = CATEGORY_PARTS[bar]
    return bool(hits[BEAT_ONE, KICK]), bool(hits[list(BACKBEAT), SNARE].all())


@dataclass
class Counts:
    """What the tunings of one request did, summed (``+`` adds two requests' counts)."""

    tunings: int = 0
    met: int = 0
    edited: int = 0  # steps that differ from the untuned bar
    crowded: int = 0  # edited steps needing more hands than the rules allow
    stacked: int = 0  # edited steps adding two or more parts at once
    kick_had: int = 0
    kick_kept: int = 0
    beat_had: int = 0
    beat_kept: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))

    def add(self, before: np.ndarray, after: np.ndarray, met: bool, max_hands: int) -> None:
        self.tunings += 1
        self.met += met
        self.crowded += int(((HAND_PARTS[after] > max_hands) & (after != before)).sum())
        edited, stacked = stacked_share(before, after)
        self.edited, self.stacked = self.edited + edited, self.stacked + stacked
        (kick_before, beat_before), (kick_after, beat_after) = anchors(before), anchors(after)
        self.kick_had, self.kick_kept = self.kick_had + kick_before, self.kick_kept + (kick_before and kick_after)
        self.beat_had, self.beat_kept = self.beat_had + beat_before, self.beat_kept + (beat_before and beat_after)

    def row(self, label: str) -> tuple[str, ...]:
        return (
            label,
            f"{self.tunings}",
            f"{self.met / self.tunings:.1%}",
            f"{self.edited / self.tunings:.2f}",
            f"{self.crowded}",
            f"{self.stacked / max(self.edited, 1):.1%}",
            f"{self.kick_kept}/{self.kick_had}",
            f"{self.beat_kept}/{self.beat_had}",
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None, help="a GMD dataset, for the real bar-2 changes")
    parser.add_argument("--seeds", default="0,1", help="0 = most likely bar; others: sampled with that seed")
    args = parser.parse_args()
    torch.set_num_threads(1)
    loaded = load_model()
    max_hands = EditRules().max_hands
    seeds = [int(value) for value in args.seeds.split(",")]
    grooves = [seed_from_groove(name) for name in groove_library()]

    table = Table(title=f"single-feature requests on the {len(grooves)} built-in grooves, seeds {args.seeds}")
    for column in (
        "request",
        "tunings",
        "met",
        "edited steps",
        f"new steps > {max_hands} hands",
        "edits adding ≥ 2 parts",
        "kick on 1 kept",
        "backbeat kept",
    ):
        table.add_column(column, justify="left" if column == "request" else "right")
    total = Counts()
    for feature in TUNER_FEATURES:
        for level in LEVELS:
            counts = Counts()
            for seed in grooves:
                for value in seeds:
                    played = generate(
                        seed,
                        {feature: level},
                        temperature=0 if value == 0 else None,
                        seed_value=value,
                        model=loaded,
                        humanize=0.0,
                    )
                    before, after = played.continuation.categories(), played.result.categories()
                    counts.add(before, after, played.outcomes[0].met, max_hands)
            table.add_row(*counts.row(f"{feature} {level}"))
            total = total + counts
    table.add_row(*total.row("all"))
    console = Console(width=160)
    console.print(table)
    if args.data is not None:
        categories = load_dataset(args.data).categories()
        edited, stacked = stacked_share(categories[:, :STEPS_PER_BAR], categories[:, STEPS_PER_BAR:])
        console.print(f"real GMD bar 1 → bar 2: {edited:,} changed steps, {stacked / edited:.1%} add ≥ 2 parts at once")


if __name__ == "__main__":
    main()
