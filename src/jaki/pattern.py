"""The drum pattern: the one representation every other module uses.

A pattern is a whole number of 4/4 bars of 16 sixteenth-note steps, each step holding any subset of the five
parts kick, snare, closed cymbals, open cymbals and toms (FEATURES.md §0). Hits are binary; an optional velocity
layer (0..1) and an optional timing layer (offset from the grid in ms) ride along for MIDI in and out.

Every step is also one of 32 categories, the subsets of the part letters ``k s c o t`` sorted alphabetically with
the empty set named ``r`` (rest): the model and the tuner see patterns only through this codec. All label, mask and
membership tables are derived from ``PARTS`` here; nothing else enumerates them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from jaki.errors import JakiInputError

PARTS: tuple[str, ...] = ("kick", "snare", "closed", "open", "toms")
PART_LETTERS: str = "kscot"
STEPS_PER_BAR: int = 16
N_PARTS: int = len(PARTS)
REST_LABEL: str = "r"


def _all_labels() -> tuple[str, ...]:
    subsets = ["".join(combo) for size in range(1, N_PARTS + 1) for combo in combinations(PART_LETTERS, size)]
    return tuple(sorted([*subsets, REST_LABEL]))


CATEGORY_LABELS: tuple[str, ...] = _all_labels()
N_CATEGORIES: int = len(CATEGORY_LABELS)
REST: int = CATEGORY_LABELS.index(REST_LABEL)

# CATEGORY_PARTS[c, p] is True when category c sounds part p.
CATEGORY_PARTS: np.ndarray = np.array(
    [[letter in label and label != REST_LABEL for letter in PART_LETTERS] for label in CATEGORY_LABELS],
    dtype=bool,
)
CATEGORY_PARTS.setflags(write=False)

_BIT_WEIGHTS = 1 << np.arange(N_PARTS)
# Category of each 5-bit part mask (bit p set = part p sounds), and back.
_MASK_TO_CATEGORY: np.ndarray = np.empty(1 << N_PARTS, dtype=np.int64)
_MASK_TO_CATEGORY[CATEGORY_PARTS.astype(np.int64) @ _BIT_WEIGHTS] = np.arange(N_CATEGORIES)
_MASK_TO_CATEGORY.setflags(write=False)

HIT, REST_CHAR = "x", "."
# What people type in a grid: x, X or o for a hit, . or - for a rest (written back as x and .).
HIT_CHARS, REST_CHARS = "xXo", ".-"


def category_index(label: str) -> int:
    """Index of a category label such as ``"ksc"`` (letters in any order) or ``"r"`` for a rest."""
    if label == REST_LABEL:
        return REST
    letters = set(label)
    if not label or not letters <= set(PART_LETTERS) or len(letters) != len(label):
        raise JakiInputError(f"unknown step label {label!r}: use letters from {PART_LETTERS!r} or 'r' for a rest")
    return CATEGORY_LABELS.index("".join(sorted(letters, key=PART_LETTERS.index)))


def hits_to_categories(hits: np.ndarray) -> np.ndarray:
    """(..., 5) boolean hits → (...) category indices."""
    return _MASK_TO_CATEGORY[np.asarray(hits, dtype=np.int64) @ _BIT_WEIGHTS]


def categories_to_hits(categories: np.ndarray) -> np.ndarray:
    """(...) category indices → (..., 5) boolean hits."""
    categories = np.asarray(categories)
    if categories.size and (categories.min() < 0 or categories.max() >= N_CATEGORIES):
        raise JakiInputError(f"category indices must lie in 0..{N_CATEGORIES - 1}")
    return CATEGORY_PARTS[categories]


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.array(array, copy=True)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class Pattern:
    """Drum hits over whole 4/4 bars: ``hits[step, part]``, with optional velocity and timing layers.

    ``velocities``: 0..1 per cell, 0 where there is no hit (``None`` = unknown, writers pick accents).
    ``offsets_ms``: signed deviation of each hit from its grid step (positive = late), NaN where there is no hit
    (``None`` = unknown, e.g. a typed grid). Arrays are copied and frozen: a Pattern is a value.
    """

    hits: np.ndarray
    velocities: np.ndarray | None = None
    offsets_ms: np.ndarray | None = None

    def __post_init__(self) -> None:
        hits = np.asarray(self.hits)
        if hits.ndim != 2 or hits.shape[1] != N_PARTS:
            raise ValueError(f"hits must have shape (steps, {N_PARTS}), got {hits.shape}")
        if hits.shape[0] == 0 or hits.shape[0] % STEPS_PER_BAR:
            raise ValueError(f"a pattern holds whole bars of {STEPS_PER_BAR} steps, got {hits.shape[0]} steps")
        hits = hits.astype(bool)
        object.__setattr__(self, "hits", _frozen(hits))
        if self.velocities is not None:
            velocities = np.asarray(self.velocities, dtype=np.float32)
            if velocities.shape != hits.shape:
                raise ValueError(f"velocities shape {velocities.shape} differs from hits shape {hits.shape}")
            if np.any((velocities < 0) | (velocities > 1)):
                raise ValueError("velocities must lie in 0..1")
            object.__setattr__(self, "velocities", _frozen(np.where(hits, velocities, 0.0).astype(np.float32)))
        if self.offsets_ms is not None:
            offsets = np.asarray(self.offsets_ms, dtype=np.float32)
            if offsets.shape != hits.shape:
                raise ValueError(f"offsets shape {offsets.shape} differs from hits shape {hits.shape}")
            object.__setattr__(self, "offsets_ms", _frozen(np.where(hits, offsets, np.nan).astype(np.float32)))

    # --- construction -------------------------------------------------------------------------------------
    @classmethod
    def empty(cls, n_bars: int = 1) -> Pattern:
        return cls(np.zeros((n_bars * STEPS_PER_BAR, N_PARTS), dtype=bool))

    @classmethod
    def from_categories(cls, categories: Sequence[int] | np.ndarray) -> Pattern:
        """Inverse of :meth:`categories`: one category index per step."""
        return cls(categories_to_hits(np.asarray(categories, dtype=np.int64)))

    @classmethod
    def from_labels(cls, labels: Iterable[str]) -> Pattern:
        """One label per step, e.g. ``["kc", "r", "c", ...]``."""
        return cls.from_categories([category_index(label) for label in labels])

    @classmethod
    def from_grid(cls, text: str) -> Pattern:
        """Parse the text grid people read and type (see :meth:`to_grid`).

        One row per part, named by its part name, in any order; each row holds one or more bars of exactly 16
        characters (``x``, ``X`` or ``o`` a hit, ``.`` or ``-`` a rest) separated by ``|`` or spaces. Blank lines are ignored. Errors name the
        row and the 1-based column at fault.
        """
        rows: dict[str, np.ndarray] = {}
        n_steps: int | None = None
        for line_number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            name, _, cells = line.strip().partition(" ")
            if name not in PARTS:
                raise JakiInputError(f"grid line {line_number}: unknown row {name!r}; rows are {', '.join(PARTS)}")
            if name in rows:
                raise JakiInputError(f"grid line {line_number}: row {name!r} appears twice")
            rows[name] = _parse_grid_row(name, cells, line.index(name) + len(name) + 1)
            if n_steps is None:
                n_steps = len(rows[name])
            elif len(rows[name]) != n_steps:
                raise JakiInputError(f"grid row {name!r}: {len(rows[name])} steps, but earlier rows have {n_steps}")
        missing = [part for part in PARTS if part not in rows]
        if missing:
            raise JakiInputError(f"grid is missing row(s) {', '.join(missing)}; a grid needs all of {', '.join(PARTS)}")
        return cls(np.stack([rows[part] for part in PARTS], axis=1))

    @classmethod
    def concat(cls, patterns: Sequence[Pattern]) -> Pattern:
        """Bars of several patterns one after the other; layers survive only if every pattern has them."""
        if not patterns:
            raise ValueError("nothing to concatenate")
        velocities = offsets = None
        if all(p.velocities is not None for p in patterns):
            velocities = np.concatenate([p.velocities for p in patterns])
        if all(p.offsets_ms is not None for p in patterns):
            offsets = np.concatenate([p.offsets_ms for p in patterns])
        return cls(np.concatenate([p.hits for p in patterns]), velocities, offsets)

    # --- views --------------------------------------------------------------------------------------------
    @property
    def n_steps(self) -> int:
        return self.hits.shape[0]

    @property
    def n_bars(self) -> int:
        return self.n_steps // STEPS_PER_BAR

    def categories(self) -> np.ndarray:
        """One category index (0..31) per step."""
        return hits_to_categories(self.hits)

    def labels(self) -> list[str]:
        return [CATEGORY_LABELS[c] for c in self.categories()]

    def bar(self, index: int) -> Pattern:
        if not -self.n_bars <= index < self.n_bars:
            raise IndexError(f"bar {index} of a {self.n_bars}-bar pattern")
        index %= self.n_bars
        window = slice(index * STEPS_PER_BAR, (index + 1) * STEPS_PER_BAR)
        return Pattern(
            self.hits[window],
            None if self.velocities is None else self.velocities[window],
            None if self.offsets_ms is None else self.offsets_ms[window],
        )

    def bars(self) -> list[Pattern]:
        return [self.bar(i) for i in range(self.n_bars)]

    def binary(self) -> Pattern:
        """The same hits without velocity and timing layers."""
        return Pattern(self.hits)

    def grid_rows(self) -> dict[str, str]:
        """Part name → ``x``/``.`` string over all steps (no bar separators), as JSON output uses."""
        return {part: "".join(HIT if h else REST_CHAR for h in self.hits[:, p]) for p, part in enumerate(PARTS)}

    def to_grid(self, bar_separator: str = " ") -> str:
        """The human-readable grid, one row per part, bars separated by ``bar_separator``."""
        width = max(len(part) for part in PARTS)
        lines = []
        for part, row in self.grid_rows().items():
            bars = [row[i : i + STEPS_PER_BAR] for i in range(0, len(row), STEPS_PER_BAR)]
            lines.append(f"{part:<{width}} {bar_separator.join(bars)}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_grid()

    # --- edits --------------------------------------------------------------------------------------------
    def with_step(self, step: int, category: int | str) -> Pattern:
        """A copy with one step set to a category (index or label); that step's layers are reset."""
        index = category_index(category) if isinstance(category, str) else int(category)
        hits = np.array(self.hits)
        hits[step] = CATEGORY_PARTS[index]
        velocities = offsets = None
        if self.velocities is not None:
            velocities = np.array(self.velocities)
            velocities[step] = np.where(hits[step], np.where(self.hits[step], velocities[step], 1.0), 0.0)
        if self.offsets_ms is not None:
            offsets = np.array(self.offsets_ms)
            offsets[step] = np.where(hits[step], np.nan_to_num(offsets[step]), np.nan)
        return Pattern(hits, velocities, offsets)

    # --- value semantics ----------------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Pattern):
            return NotImplemented
        return (
            np.array_equal(self.hits, other.hits)
            and _layers_equal(self.velocities, other.velocities)
            and _layers_equal(self.offsets_ms, other.offsets_ms)
        )

    def __hash__(self) -> int:
        return hash(self.hits.tobytes())

    def __repr__(self) -> str:
        layers = [name for name in ("velocities", "offsets_ms") if getattr(self, name) is not None]
        return f"Pattern({self.n_bars} bar(s), {int(self.hits.sum())} hits{', ' + ', '.join(layers) if layers else ''})"


def _layers_equal(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return np.array_equal(a, b, equal_nan=True)


_SEPARATORS = re.compile(r"[|\s]")


def _parse_grid_row(name: str, cells: str, first_column: int) -> np.ndarray:
    """Parse one row's bars; ``first_column`` is the 1-based line column of ``cells[0]`` minus one."""
    steps: list[bool] = []
    in_bar = 0
    for offset, char in enumerate(cells):
        column = first_column + offset + 1
        if _SEPARATORS.fullmatch(char):
            if in_bar not in (0, STEPS_PER_BAR):
                raise JakiInputError(
                    f"grid row {name!r}, column {column}: bar ends after {in_bar} steps, expected {STEPS_PER_BAR}"
                )
            in_bar = 0
            continue
        if char not in HIT_CHARS + REST_CHARS:
            raise JakiInputError(
                f"grid row {name!r}, column {column}: expected a hit ({', '.join(HIT_CHARS)}) or a rest "
                f"({', '.join(REST_CHARS)}), got {char!r}"
            )
        if in_bar == STEPS_PER_BAR:
            raise JakiInputError(
                f"grid row {name!r}, column {column}: bar longer than {STEPS_PER_BAR} steps (separate bars with '|' or a space)"
            )
        steps.append(char in HIT_CHARS)
        in_bar += 1
    if not steps:
        raise JakiInputError(f"grid row {name!r}: no steps")
    if in_bar != STEPS_PER_BAR:
        raise JakiInputError(
            f"grid row {name!r}, column {first_column + len(cells.rstrip())}: bar ends after {in_bar} steps, expected {STEPS_PER_BAR}"
        )
    return np.array(steps, dtype=bool)
