"""What bar 2 is asked to be, besides a continuation of bar 1: the continuation model's conditions.

A drummer's second bar depends on more than the first: where it falls in the phrase (the fourth bar of four is
where fills go), whether it *is* a fill, and whether the pattern is a performance (ghost notes, a hi-hat that
breathes) or a programmed pattern (a grid, a built-in groove, a quantised DAW clip). A model trained on
performances alone continues a programmed seed as if a drummer played it: it strips the seed or copies it. Each
condition is a small integer per loop; the model embeds each and feeds their sum to its decoder at every step
(``ModelConfig.conditions``). Code 0 of every condition is the plain case, which is what ``None`` means.

* ``programmed`` (0 performed, 1 programmed): training sees every train loop twice, once as played and once with
  its ghost notes (snare hits softer than ``ExampleConfig.ghost_velocity``) removed from both bars: a performance
  made to look programmed. Generation uses 1 for every seed without a performance's velocities.
* ``fill`` (0, 1): bar 2 is a fill. The Groove MIDI Dataset labels each file *beat* or *fill*; fill files hold a
  fill with a bar or less before it, so each fill bar is also paired with ``fill_partners`` groove bars that the
  same drummer played in the same session, style and tempo (a groove, then its fill).
* ``position`` (0-3): bar 2's place in a 4-bar phrase, counted from the file's first bar ((bar index + 1) mod 4);
  a fill is always the phrase's last bar, 3.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jaki.pattern import PARTS, STEPS_PER_BAR, hits_to_categories

CONDITION_SIZES: dict[str, int] = {"programmed": 2, "fill": 2, "position": 4}
CONDITIONS: tuple[str, ...] = tuple(CONDITION_SIZES)
PHRASE_BARS = CONDITION_SIZES["position"]
SNARE = PARTS.index("snare")
PERFORMED_TIMING_MS = 3.0  # a bar whose hits sit further off the grid than this (median) was played, not programmed


@dataclass(frozen=True)
class ExampleConfig:
    """How the training loops are assembled from a dataset; stored with the model."""

    programmed_copies: bool = True  # add each train loop again with its ghost notes removed (programmed = 1)
    ghost_velocity: float = 0.45  # snare hits softer than this (0..1) are ghost notes
    fill_partners: int = 4  # groove bars paired with each fill bar (same drummer, session, style, tempo)
    partner_tempo_bpm: float = 1.5  # "same tempo" within this many bpm
    seed: int = 0  # which partners are drawn


@dataclass(frozen=True)
class Examples:
    """Training loops as the model reads them: (n, 16) bar 1 and bar 2 categories and (n, k) condition codes."""

    bar1: np.ndarray
    bar2: np.ndarray
    codes: np.ndarray

    def __len__(self) -> int:
        return len(self.bar1)


def condition_values(*, programmed=0, fill=0, position=1) -> dict[str, np.ndarray]:
    """Every condition's codes, from scalars or (n,) arrays broadcast together: the one place that counts the
    position in the phrase and puts a fill at the phrase's end."""
    fill = np.asarray(fill, dtype=np.int64)
    position = np.where(fill == 1, PHRASE_BARS - 1, np.asarray(position, dtype=np.int64) % PHRASE_BARS)
    values = {"programmed": np.asarray(programmed, dtype=np.int64), "fill": fill, "position": position}
    shape = np.broadcast_shapes(*(value.shape for value in values.values()))
    return {name: np.array(np.broadcast_to(value, shape)) for name, value in values.items()}


def codes_for(names: tuple[str, ...], *, programmed: int = 0, fill: int = 0, position: int = 1) -> np.ndarray:
    """(k,) the condition codes of one bar 2, in the model's order ``names``."""
    values = condition_values(programmed=programmed, fill=fill, position=position)
    return np.array([int(values[name]) for name in names], dtype=np.int64)


def is_performed(pattern) -> bool:
    """True for a bar a drummer played (a performance's MIDI, a dataset loop): its hits sit off the grid. A grid,
    a built-in groove or a quantised clip has no timing of its own and counts as programmed."""
    if pattern.offsets_ms is None or not pattern.hits.any():
        return False
    offsets = np.abs(np.nan_to_num(pattern.offsets_ms[pattern.hits]))
    return bool(np.median(offsets) > PERFORMED_TIMING_MS)


def split_conditions(dataset, split: str) -> dict[str, np.ndarray]:
    """Every condition's (n,) codes for the loops of ``split`` as they were played (programmed = 0)."""
    mask = dataset.split_mask(split)
    return condition_values(fill=dataset.kind[mask] == "fill", position=dataset.bar_index[mask] + 1)


def programmed_conditions(n: int) -> dict[str, np.ndarray]:
    """Every condition's codes for ``n`` programmed bar 1 → bar 2 pairs (the second bar of a phrase, no fill)."""
    return condition_values(programmed=np.ones(n, dtype=np.int64))


def remove_ghost_notes(hits: np.ndarray, velocities: np.ndarray, ghost_velocity: float) -> np.ndarray:
    """(…, steps, 5) hits without the snare hits softer than ``ghost_velocity``: a performance as programmed."""
    hits = hits.copy()
    hits[..., SNARE] &= velocities[..., SNARE] >= ghost_velocity
    return hits


def training_examples(dataset, split: str, names: tuple[str, ...], config: ExampleConfig | None = None) -> Examples:
    """The loops of ``split`` with their conditions, plus the programmed copies and fill pairs that the model's
    ``names`` ask for (module docstring). ``dataset`` is a :class:`jaki.dataset.LoopDataset`."""
    config = config or ExampleConfig()
    mask = dataset.split_mask(split)
    hits, velocities = dataset.hits[mask], dataset.velocities[mask]
    played = split_conditions(dataset, split)
    parts = [(hits, played)]
    if "programmed" in names and config.programmed_copies:
        clean = remove_ghost_notes(hits, velocities, config.ghost_velocity)
        parts.append((clean, {**played, "programmed": np.ones(len(hits), dtype=np.int64)}))
    if "fill" in names and config.fill_partners > 0:
        partnered = _fill_pairs(dataset, mask, config)
        parts.append((partnered, condition_values(fill=np.ones(len(partnered), dtype=np.int64))))
    all_hits = np.concatenate([part[0] for part in parts])
    codes = (
        np.stack([np.concatenate([part[1][name] for part in parts]) for name in names], axis=1)
        if names
        else np.zeros((len(all_hits), 0), dtype=np.int64)
    )
    categories = hits_to_categories(all_hits)
    return Examples(categories[:, :STEPS_PER_BAR], categories[:, STEPS_PER_BAR:], codes)


def _fill_pairs(dataset, mask: np.ndarray, config: ExampleConfig) -> np.ndarray:
    """(n, 32, 5) loops whose bar 1 is a groove bar and bar 2 a fill bar of the same drummer's session, style
    and tempo (the groove bar: bar 2 of a random *beat* loop of that session)."""
    rng = np.random.default_rng(config.seed)
    folders = np.array([source.rpartition("/")[0] for source in dataset.source])
    beat = mask & (dataset.kind == "beat")
    pairs = []
    for index in np.flatnonzero(mask & (dataset.kind == "fill")):
        partners = np.flatnonzero(
            beat
            & (folders == folders[index])
            & (dataset.style == dataset.style[index])
            & (np.abs(dataset.tempo - dataset.tempo[index]) <= config.partner_tempo_bpm)
        )
        if len(partners) == 0:
            continue
        chosen = rng.choice(partners, size=min(config.fill_partners, len(partners)), replace=False)
        fill_bar = dataset.hits[index, STEPS_PER_BAR:]
        for partner in chosen:
            pairs.append(np.concatenate([dataset.hits[partner, STEPS_PER_BAR:], fill_bar]))
    return np.array(pairs, dtype=bool).reshape(-1, 2 * STEPS_PER_BAR, len(PARTS))
