"""The four tuner features of one bar, and the low/medium/high bands that turn them into targets.

Definitions follow FEATURES.md §0 (jaki's defects fixed): cymbal density counts steps with a closed or open cymbal
(0–16); drum density counts kick, snare and tom hits (0–48); syncopation is GrooveToolbox's combined monophonic
syncopation on one bar (the §2.1 rule per part, wrap modulo 16, summed over the 5 parts, raw integer units, 0–90);
repetition compares the two half-bars (§3.4, 0 for an all-rest bar). The tuner calls
:func:`tuner_feature_values` in its inner loop, so everything is a table lookup or array shift over category
indices, vectorised over any leading batch dimensions; the tables are derived from ``CATEGORY_PARTS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from jaki.errors import JakiInputError
from jaki.pattern import CATEGORY_PARTS, PARTS, REST, STEPS_PER_BAR, Pattern

TUNER_FEATURES: tuple[str, ...] = ("cymbal_density", "drum_density", "syncopation", "repetition")
LEVELS: tuple[str, ...] = ("low", "medium", "high")

# Longuet-Higgins & Lee metrical weights of the 16 steps of a 4/4 bar, shifted to be positive (FEATURES.md §2.1).
METRICAL_PROFILE: np.ndarray = np.array([5, 1, 2, 1, 3, 1, 2, 1, 4, 1, 2, 1, 3, 1, 2, 1], dtype=np.int64)
METRICAL_PROFILE.setflags(write=False)

# Per-category lookup tables (public so that incremental updates, e.g. the tuner's, reuse them).
_PART = {name: CATEGORY_PARTS[:, index] for index, name in enumerate(PARTS)}
CATEGORY_CYMBAL = (_PART["closed"] | _PART["open"]).astype(np.int64)
CATEGORY_DRUM_HITS = (_PART["kick"].astype(np.int64) + _PART["snare"] + _PART["toms"]).astype(np.int64)
_HALF = STEPS_PER_BAR // 2


def _syncopation_gain(steps_ahead: int) -> np.ndarray:
    """Score a hit earns when the step ``steps_ahead`` later is empty: the rise in metrical weight, if any."""
    ahead = np.roll(METRICAL_PROFILE, -steps_ahead)
    return np.maximum(ahead - METRICAL_PROFILE, 0)


SYNCOPATION_GAIN_NEXT = _syncopation_gain(1)
SYNCOPATION_GAIN_AFTER_NEXT = _syncopation_gain(2)
for _table in (CATEGORY_CYMBAL, CATEGORY_DRUM_HITS, SYNCOPATION_GAIN_NEXT, SYNCOPATION_GAIN_AFTER_NEXT):
    _table.setflags(write=False)
# One part's maximum is 18 (hits at 1,3,6,7,9,11,14,15; checked over all 2^16 bars, every integer 0..18 occurs);
# parts are independent, so the per-part sum reaches 5 × 18 and takes every integer in between.
_MAX_PART_SYNCOPATION = 18

# What each feature measures, in a musician's words: shown by 'jaki features' and in each target's --help.
FEATURE_MEANINGS: dict[str, str] = {
    "cymbal_density": "how many of the bar's 16 steps have a cymbal (closed or open hi-hat, ride, crash); "
    "eighth-note hats are 8, sixteenths 16",
    "drum_density": "how many kick, snare and tom hits the bar has, each drum counted (kick and snare together "
    "on one step count 2)",
    "syncopation": "how much the hits lean against the beat: a hit followed by a rest on a stronger position "
    "scores the difference in metrical weight, summed over the five parts; on-the-beat grooves score near 0",
    "repetition": "the share of sounding steps whose exact hit combination comes back half a bar (8 steps) "
    "later: 1 = the bar's second half repeats its first, 0 = nothing repeats (measured inside one bar, not "
    "between bars)",
}

FEATURE_RANGES: dict[str, tuple[float, float]] = {
    "cymbal_density": (0.0, float(STEPS_PER_BAR)),
    "drum_density": (0.0, 3.0 * STEPS_PER_BAR),
    "syncopation": (0.0, float(_MAX_PART_SYNCOPATION * len(PARTS))),
    "repetition": (0.0, 1.0),
}


def _syncopation(hits: np.ndarray) -> np.ndarray:
    """(..., 16, parts) bool → (...) summed per-part syncopation (§2.1 with wrap modulo 16)."""
    next_empty = ~np.roll(hits, -1, axis=-2)
    after_next_empty = ~np.roll(hits, -2, axis=-2)
    gain_1 = SYNCOPATION_GAIN_NEXT[:, None]
    gain_2 = SYNCOPATION_GAIN_AFTER_NEXT[:, None]
    score = np.where(next_empty & (gain_1 > 0), gain_1, np.where(after_next_empty, gain_2, 0))
    return np.sum(score * hits, axis=(-2, -1))


def _repetition(categories: np.ndarray) -> np.ndarray:
    """(..., 16) → (...) share of sounding steps that repeat exactly half a bar later (0 for an all-rest bar)."""
    first, second = categories[..., :_HALF], categories[..., _HALF:]
    matching_pairs = np.sum((first == second) & (first != REST), axis=-1)
    sounding = np.sum(categories != REST, axis=-1)
    return np.divide(2 * matching_pairs, sounding, out=np.zeros(sounding.shape), where=sounding > 0)


def tuner_feature_values(categories: np.ndarray) -> np.ndarray:
    """(..., 16) category indices → (..., 4) float64 values in the order of ``TUNER_FEATURES``."""
    categories = np.asarray(categories, dtype=np.int64)
    if categories.shape[-1:] != (STEPS_PER_BAR,):
        raise ValueError(f"expected (..., {STEPS_PER_BAR}) category indices, got shape {categories.shape}")
    hits = CATEGORY_PARTS[categories]
    return np.stack(
        [
            np.sum(CATEGORY_CYMBAL[categories], axis=-1),
            np.sum(CATEGORY_DRUM_HITS[categories], axis=-1),
            _syncopation(hits),
            _repetition(categories),
        ],
        axis=-1,
    ).astype(np.float64)


def tuner_features(bar: Pattern) -> dict[str, float]:
    """The four tuner features of a one-bar pattern, by name."""
    if bar.n_bars != 1:
        raise ValueError(f"tuner features are defined on one bar, got {bar.n_bars}")
    return dict(zip(TUNER_FEATURES, tuner_feature_values(bar.categories()).tolist(), strict=True))


def _repetition_values() -> np.ndarray:
    """Every value 2m/n repetition can take (n sounding steps, m matching half-bar pairs, 2m ≤ n), plus 0."""
    fractions = {Fraction(0)} | {
        Fraction(2 * m, n) for n in range(1, STEPS_PER_BAR + 1) for m in range(0, min(n // 2, _HALF) + 1)
    }
    # Float division is correctly rounded, so these equal the values _repetition computes bit for bit.
    return np.unique([f.numerator / f.denominator for f in fractions])


POSSIBLE_VALUES: dict[str, np.ndarray] = {
    "cymbal_density": np.arange(STEPS_PER_BAR + 1, dtype=np.float64),
    "drum_density": np.arange(3 * STEPS_PER_BAR + 1, dtype=np.float64),
    "syncopation": np.arange(_MAX_PART_SYNCOPATION * len(PARTS) + 1, dtype=np.float64),
    "repetition": _repetition_values(),
}
for _possible in POSSIBLE_VALUES.values():
    _possible.setflags(write=False)


# The one "met" rule. A value this close to a band edge counts as inside: repetition is a ratio of small integers
# and a typed number's band is a float sum (0.35 + 0.05 = 0.39999999999999997), so exact comparison would put 0.4
# outside the band 0.3–0.4 it was asked for.
INSIDE_TOLERANCE = 1e-9


def band_distances(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Distance of each value to its band, 0 inside (within ``INSIDE_TOLERANCE``); broadcasts values against bands."""
    # In place on one new array (0-d for scalars): the tuner calls this on every edit of large batches.
    distance = np.asarray(np.subtract(lo, values, dtype=np.float64))
    np.maximum(distance, np.subtract(values, hi), out=distance)
    np.copyto(distance, 0.0, where=distance <= INSIDE_TOLERANCE)
    return distance


@dataclass(frozen=True)
class Band:
    """An inclusive range of feature values that one level stands for."""

    lo: float
    hi: float

    def contains(self, value: float) -> bool:
        return bool(band_distances(value, self.lo, self.hi) == 0)

    def __str__(self) -> str:
        """As the command line shows a band: ``9–16``, ``0.533–1``, or one value when ``lo == hi``."""
        return f"{self.lo:.3g}–{self.hi:.3g}" if self.lo != self.hi else f"{self.lo:.3g}"

    def distance(self, value: float) -> float:
        """0 inside the band, else how far the value lies from the nearest edge (a reward can shrink it)."""
        return float(max(self.lo - value, value - self.hi, 0.0))


FeatureBands = dict[str, dict[str, Band]]


def _cut_indices(possible: np.ndarray, q1: float, q2: float) -> tuple[int, int]:
    """Indices into ``possible`` of the last value of the low and of the medium band.

    Each tercile is snapped down onto the possible values (same membership, readable edges). When both terciles
    land on one value, that value alone becomes "medium" and "low" ends just below it; near the ends of the range
    the cuts are pushed inward so that every band holds at least one possible value.
    """
    low_end = int(np.searchsorted(possible, q1, side="right")) - 1
    medium_end = int(np.searchsorted(possible, q2, side="right")) - 1
    if medium_end == low_end:
        low_end -= 1
    medium_end = min(medium_end, len(possible) - 2)
    low_end = max(min(low_end, medium_end - 1), 0)
    medium_end = max(medium_end, low_end + 1)
    return low_end, medium_end


def level_bands(values: np.ndarray) -> FeatureBands:
    """Low/medium/high bands of each feature from its terciles over (N, 4) feature values (e.g. train bar 2s).

    low = [min, q1], medium = [next possible value above q1, q2], high = [next possible value above q2, max]:
    inclusive, disjoint, and together they hold every value the feature can take.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != len(TUNER_FEATURES) or len(values) == 0:
        raise JakiInputError(
            f"feature values: shape {values.shape} (expected (N, {len(TUNER_FEATURES)}) with N ≥ 1 bars)"
        )
    bands: FeatureBands = {}
    for column, feature in enumerate(TUNER_FEATURES):
        possible = POSSIBLE_VALUES[feature]
        q1, q2 = np.quantile(values[:, column], [1 / 3, 2 / 3])
        low_end, medium_end = _cut_indices(possible, q1, q2)
        bands[feature] = {
            "low": Band(float(possible[0]), float(possible[low_end])),
            "medium": Band(float(possible[low_end + 1]), float(possible[medium_end])),
            "high": Band(float(possible[medium_end + 1]), float(possible[-1])),
        }
    return bands


def bands_to_json(bands: FeatureBands) -> dict[str, dict[str, list[float]]]:
    """``{"cymbal_density": {"low": [lo, hi], ...}, ...}`` for config files."""
    return {feature: {level: [band.lo, band.hi] for level, band in levels.items()} for feature, levels in bands.items()}


def bands_from_json(data: dict) -> FeatureBands:
    """Inverse of :func:`bands_to_json`; raises JakiInputError on a malformed document."""
    try:
        bands = {
            feature: {level: Band(float(data[feature][level][0]), float(data[feature][level][1])) for level in LEVELS}
            for feature in TUNER_FEATURES
        }
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise JakiInputError(
            f"feature bands: malformed ({error!r}; expected feature → level → [lo, hi] for {', '.join(TUNER_FEATURES)})"
        ) from None
    for feature, levels in bands.items():
        for level, band in levels.items():
            if not band.lo <= band.hi:
                raise JakiInputError(f"feature bands: {feature}/{level} has lo {band.lo} > hi {band.hi}")
    return bands
