"""Feel for what jaki writes: the groove model's velocities and timing on bars whose hits are already decided.

A generation's bars are played in order, each by the groove model conditioned on the bar before it as played: the
seed (its own feel when it has one — a MIDI performance — else the model's reading of it as a quantised bar), then
every continuation (or tuned) bar. ``humanize`` scales the feel between jaki's grid (fixed accents, on the beat, 0)
and the model's (1); ``swing`` then pushes every off-beat sixteenth late as a drum machine does (MPC-style: the
percentage of a pair of sixteenths that the first one lasts; 50 = straight, 66 ≈ triplets). All randomness comes
from one ``torch.Generator`` seeded by the caller, so the same seed gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from jaki.errors import JakiInputError
from jaki.midi import accent_velocities
from jaki.pattern import PARTS, STEPS_PER_BAR, Pattern

if TYPE_CHECKING:  # torch and the model load when a bar is played: analyze's per-hit views need neither
    import torch

    from jaki.groove import GrooveModel

MAX_OFFSET_STEPS = 0.5  # a hit is never more than half a sixteenth from its grid step
QUANTISED_MS = 1.0  # a bar whose every hit sits within this of the grid counts as quantised (a DAW clip, a grid)
SWING_RANGE = (50.0, 75.0)  # MPC swing: 50 % straight … 75 % (the off-beat hit half a sixteenth late)


@dataclass(frozen=True)
class FeelOptions:
    """How much feel to add: ``humanize`` 0..1 (0 = jaki's grid), ``swing`` percent (50 = straight)."""

    humanize: float = 1.0
    swing: float = 50.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.humanize <= 1.0:
            raise JakiInputError(f"--humanize {self.humanize:g}: expected 0 (the grid) to 1 (the groove model's feel)")
        low, high = SWING_RANGE
        if not low <= self.swing <= high:
            raise JakiInputError(f"--swing {self.swing:g}: expected {low:g} (straight) to {high:g} percent")

    @property
    def quantized(self) -> bool:
        """Nothing to add: the grid exactly as jaki writes it without feel."""
        return self.humanize == 0 and self.swing == SWING_RANGE[0]


@dataclass(frozen=True)
class Performance:
    """The bars of a generation as played: velocity and timing layers on the seed, continuation and result."""

    seed: Pattern
    continuation: Pattern
    result: Pattern
    tempo_bpm: float
    options: FeelOptions

    @property
    def loop(self) -> Pattern:
        return Pattern.concat([self.seed, self.result])

    def document(self) -> dict:
        """JSON: the settings, and every hit's velocity and offset in each bar file (see :func:`hit_list`)."""
        return {
            "humanize": self.options.humanize,
            "swing": self.options.swing,
            "tempo_bpm": self.tempo_bpm,
            "seed": hit_list(self.seed),
            "continuation": hit_list(self.continuation),
            "tuned": hit_list(self.result),
        }


def hit_list(pattern: Pattern) -> list[dict]:
    """Every hit as ``{"step", "part", "velocity", "offset_ms"}`` (velocity in MIDI units, as written; null when
    the pattern has no such layer), in step order: the per-hit view of ``--json``."""
    hits = []
    for step, part in np.argwhere(pattern.hits):
        velocity = None if pattern.velocities is None else round(float(pattern.velocities[step, part]) * 127)
        offset = None if pattern.offsets_ms is None else round(float(pattern.offsets_ms[step, part]), 2)
        hits.append({"step": int(step), "part": PARTS[part], "velocity": velocity, "offset_ms": offset})
    return hits


def part_feel(pattern: Pattern) -> dict[str, dict[str, float | None]]:
    """Per part: how loud (mean and spread of velocity, MIDI units) and how early or late (mean and spread of the
    offset, ms) its hits are; None where the part has no hit or the pattern no such layer."""
    feel: dict[str, dict[str, float | None]] = {}
    for p, part in enumerate(PARTS):
        hits = pattern.hits[:, p]
        figures: dict[str, float | None] = {}
        for name, layer, scale in (("velocity", pattern.velocities, 127.0), ("offset_ms", pattern.offsets_ms, 1.0)):
            values = None if layer is None or not hits.any() else scale * layer[hits, p].astype(np.float64)
            figures[f"{name}_mean"] = None if values is None else round(float(values.mean()), 2)
            figures[f"{name}_spread"] = None if values is None else round(float(values.std()), 2)
        feel[part] = figures
    return feel


def step_ms(tempo_bpm: float | np.ndarray) -> float | np.ndarray:
    """Length of one sixteenth-note step in milliseconds at ``tempo_bpm`` quarter notes per minute."""
    return 60_000.0 / (np.asarray(tempo_bpm, dtype=np.float64) * 4)


def is_quantised(pattern: Pattern) -> bool:
    """True when the pattern has no timing of its own (no timing layer, or every hit within QUANTISED_MS)."""
    if pattern.offsets_ms is None:
        return True
    return bool(np.all(np.abs(pattern.offsets_ms[pattern.hits]) <= QUANTISED_MS))


def _grid_velocities(pattern: Pattern) -> np.ndarray:
    """The velocities jaki writes without feel: the pattern's own, else the fixed accents (0..1)."""
    if pattern.velocities is not None:
        return pattern.velocities
    accents = np.tile(accent_velocities() / 127.0, pattern.n_bars)[:, None]
    return np.where(pattern.hits, accents, 0.0).astype(np.float32)


def play_bar(
    model: GrooveModel, previous: Pattern, bar: Pattern, *, tempo_bpm: float, generator: torch.Generator
) -> Pattern:
    """One bar's hits with the model's sampled velocities and offsets, given the bar before it as played."""
    import torch

    from jaki.groove import groove_inputs

    quantised = is_quantised(previous)
    to_steps = 1.0 / float(step_ms(tempo_bpm))
    offsets = np.zeros(previous.hits.shape) if quantised else np.nan_to_num(previous.offsets_ms) * to_steps
    inputs = groove_inputs(
        previous.hits[None],
        _grid_velocities(previous)[None],
        offsets[None],
        np.array([quantised]),
        np.array([tempo_bpm]),
        bar.hits[None],
    )
    velocity, offset = (t[0].numpy() for t in model.sample(torch.as_tensor(inputs), generator=generator))
    return Pattern(bar.hits, velocity, offset / to_steps)


def play_bars(
    model: GrooveModel, previous: Pattern, bars: Pattern, *, tempo_bpm: float, generator: torch.Generator
) -> Pattern:
    """Every bar of ``bars`` played in turn, each conditioned on the one before it (the first on ``previous``)."""
    played: list[Pattern] = []
    for bar in bars.bars():
        played.append(play_bar(model, previous, bar, tempo_bpm=tempo_bpm, generator=generator))
        previous = played[-1]
    return Pattern.concat(played)


def perform(
    model: GrooveModel,
    seed: Pattern,
    continuation: Pattern,
    tuned: Pattern | None,
    *,
    tempo_bpm: float,
    options: FeelOptions,
    generator: torch.Generator,
) -> Performance:
    """Play a generation's seed, continuation and (when tuned) tuned bars; see the module docstring.

    The bars are chained at the model's full feel; ``humanize`` and ``swing`` shape only what is written, so a
    small ``humanize`` does not shrink from bar to bar. A seed with feel of its own is written as it was played.
    """
    own_feel = not is_quantised(seed)
    played_seed = seed
    if not own_feel:
        grid = Pattern(seed.hits, _grid_velocities(seed))
        played_seed = play_bars(model, grid, seed.binary(), tempo_bpm=tempo_bpm, generator=generator)
    played = [
        play_bars(model, played_seed, bars, tempo_bpm=tempo_bpm, generator=generator)
        for bars in ([continuation] if tuned is None else [continuation, tuned])
    ]

    def written(pattern: Pattern) -> Pattern:
        return swing(humanized(pattern, options.humanize), options.swing, tempo_bpm)

    return Performance(
        played_seed if own_feel else written(played_seed), written(played[0]), written(played[-1]), tempo_bpm, options
    )


def humanized(played: Pattern, amount: float) -> Pattern:
    """``amount`` of the played feel on jaki's grid: velocities between the fixed accents and the played ones,
    offsets scaled toward the beat."""
    base = _grid_velocities(played.binary())
    return Pattern(played.hits, base + amount * (played.velocities - base), amount * played.offsets_ms)


def swing_offsets_ms(percent: float, tempo_bpm: float) -> np.ndarray:
    """(16, 1) delay of each step of a bar at ``percent`` swing: the off-beat sixteenths move, the rest stay."""
    delay = (percent / 50.0 - 1.0) * float(step_ms(tempo_bpm))
    return np.where(np.arange(STEPS_PER_BAR) % 2 == 1, delay, 0.0)[:, None]


def swing(pattern: Pattern, percent: float, tempo_bpm: float) -> Pattern:
    """The pattern with its off-beat sixteenths pushed late (offsets kept within half a step of the grid)."""
    if percent == SWING_RANGE[0]:
        return pattern
    offsets = np.nan_to_num(pattern.offsets_ms) if pattern.offsets_ms is not None else np.zeros(pattern.hits.shape)
    limit = MAX_OFFSET_STEPS * float(step_ms(tempo_bpm))
    shifted = offsets + np.tile(swing_offsets_ms(percent, tempo_bpm), (pattern.n_bars, 1))
    return Pattern(pattern.hits, _grid_velocities(pattern), np.clip(shifted, -limit, limit))
