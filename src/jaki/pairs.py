"""Pattern-pair files: programmed bar 1 → bar 2 examples (drum-machine books, pattern libraries) to score on.

The JSON shape is that of ``../shared/data/programmed/bardet200.json``::

    {"patterns": [{"id": "Rock1MeasureA", "bars": [{"kick": "x.......x.......", "snare": …}, …]}, …],
     "pairs": [["Rock1MeasureA", "Rock1MeasureB", "a note"], …]}

Each bar names the five parts (``jaki.pattern.PARTS``), each a 16-character grid of ``x`` and ``.``; a part left
out is silent. Every listed pair is one bar 1 → bar 2 example (first bar of each pattern), and so is every pattern
of two bars or more (its first bar → its second). The file is read with the same bounded, one-line-error care as
every other input.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jaki.errors import JakiInputError
from jaki.pattern import HIT, PARTS, REST_CHAR, STEPS_PER_BAR, Pattern, hits_to_categories

MAX_PAIRS_FILE_BYTES = 20_000_000  # far above any pattern book; a guard against reading a device or a dump


@dataclass(frozen=True)
class PatternPairs:
    """(n, 16) bar-1 and bar-2 categories and one name per pair, e.g. ``"Rock1MeasureA → Rock1MeasureB"``."""

    bar1: np.ndarray
    bar2: np.ndarray
    names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.names)


def load_pairs(path: Path) -> PatternPairs:
    """Read a pattern-pair file (module docstring), or a one-line error naming what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise JakiInputError(f"{path}: no such pairs file (expected JSON with 'patterns' and 'pairs')")
    if path.stat().st_size > MAX_PAIRS_FILE_BYTES:
        raise JakiInputError(f"{path}: larger than {MAX_PAIRS_FILE_BYTES:,} bytes; not a pattern-pair file")
    try:
        with path.open("rb") as handle:
            document = json.loads(handle.read(MAX_PAIRS_FILE_BYTES + 1))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise JakiInputError(f"{path}: unreadable or not JSON ({type(error).__name__})") from None
    if not isinstance(document, dict) or not isinstance(document.get("patterns"), list):
        raise JakiInputError(f"{path}: expected a JSON object with a 'patterns' list")
    bars_by_id: dict[str, list[Pattern]] = {}
    for number, entry in enumerate(document["patterns"], start=1):
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("id"), str)
            or not isinstance(entry.get("bars"), list)
        ):
            raise JakiInputError(f"{path}: pattern {number}: expected an object with an 'id' and a 'bars' list")
        bars_by_id[entry["id"]] = [_bar(path, entry["id"], index, bar) for index, bar in enumerate(entry["bars"])]
    firsts, seconds, names = [], [], []
    for number, pair in enumerate(document.get("pairs", []), start=1):
        if not isinstance(pair, list) or len(pair) < 2 or not all(isinstance(item, str) for item in pair[:2]):
            raise JakiInputError(f"{path}: pair {number}: expected [bar 1 id, bar 2 id, optional note]")
        for pattern_id in pair[:2]:
            if not bars_by_id.get(pattern_id):
                raise JakiInputError(f"{path}: pair {number}: no pattern with bars has the id {pattern_id!r}")
        firsts.append(bars_by_id[pair[0]][0])
        seconds.append(bars_by_id[pair[1]][0])
        names.append(f"{pair[0]} → {pair[1]}")
    for pattern_id, bars in bars_by_id.items():
        if len(bars) >= 2:
            firsts.append(bars[0])
            seconds.append(bars[1])
            names.append(f"{pattern_id} bar 1 → bar 2")
    if not names:
        raise JakiInputError(f"{path}: holds no pairs (no 'pairs' entries and no pattern of two bars or more)")
    return PatternPairs(
        bar1=np.stack([hits_to_categories(bar.hits) for bar in firsts]),
        bar2=np.stack([hits_to_categories(bar.hits) for bar in seconds]),
        names=tuple(names),
    )


def _bar(path: Path, pattern_id: str, index: int, bar: object) -> Pattern:
    where = f"{path}: pattern {pattern_id!r} bar {index + 1}"
    if not isinstance(bar, dict) or not set(bar) <= set(PARTS) or not all(isinstance(v, str) for v in bar.values()):
        raise JakiInputError(f"{where}: expected an object of 16-step grids for the parts {', '.join(PARTS)}")
    rows = {part: bar.get(part, REST_CHAR * STEPS_PER_BAR) for part in PARTS}
    for part, row in rows.items():
        if len(row) != STEPS_PER_BAR:
            raise JakiInputError(
                f"{where}: part {part!r} has {len(row)} steps; every part's grid must have {STEPS_PER_BAR} steps"
            )
        for step, char in enumerate(row, start=1):
            if char not in (HIT, REST_CHAR):
                raise JakiInputError(
                    f"{where}: part {part!r} step {step}: expected {HIT!r} or {REST_CHAR!r}, got {char!r}"
                )
    return Pattern(np.array([[char == HIT for char in rows[part]] for part in PARTS]).T)
