"""GrooveToolbox rhythm and microtiming features (FEATURES.md §2), computed as intended on 2-bar loops.

GrooveToolbox works on a 32-step × 10-kit-part velocity matrix. Our 5 parts land in the kit columns kick → kick,
snare → snare, closed → closed hi-hat, open → open hi-hat, toms → low tom (§6.2), so the numbers match the worked
examples; a 1-bar pattern is tiled to two bars. Velocities are used raw (GrooveToolbox's "Regular" mode) when the
pattern has them, else hits count as 1.

Fixed GrooveToolbox defects (values differ from the original as coded only where noted): polyphonic syncopation
uses the intended rest test (§2.3 a) and treats any non-zero stream value as a hit (§2.3 b), compares the rest's
own metrical weight in the "None" case (§2.3 c); empty or degenerate inputs give defined values instead of
dividing by zero (§2.11). Undefined cases, by feature:

* empty pattern: densities, syncopations, hiness, hisyncness, average intensity, complexity, weak-to-strong and
  symmetry are 0; autocorrelation skew and max amplitude 0, centroid 16 (GrooveToolbox's fallback), harmonicity 1
  (no inharmonic peak).
* weak-to-strong with weak hits but no hit on a quarter note: ``inf`` (the ratio's limit).
* timing accuracy with no timed hit on an 8th-note row: ``nan`` (no evidence either way).
"""

from __future__ import annotations

import math

import numpy as np

from jaki.kit import KIT_PARTS
from jaki.pattern import PARTS, STEPS_PER_BAR, Pattern

LOOP_BARS = 2
LOOP_STEPS = LOOP_BARS * STEPS_PER_BAR

# Kit column (FEATURES.md §1.1) that each of our 5 parts stands for.
PART_TO_KIT_COLUMN: dict[str, int] = {
    "kick": KIT_PARTS.index("kick"),
    "snare": KIT_PARTS.index("snare"),
    "closed": KIT_PARTS.index("closed_hihat"),
    "open": KIT_PARTS.index("open_hihat"),
    "toms": KIT_PARTS.index("low_tom"),
}
_KIT = {name: index for index, name in enumerate(KIT_PARTS)}
_LOW_COLUMNS = [_KIT["kick"]]
_MID_COLUMNS = [_KIT["snare"], _KIT["low_tom"], _KIT["mid_tom"], _KIT["high_tom"]]
_HIGH_COLUMNS = [_KIT[name] for name in ("closed_hihat", "open_hihat", "ride", "crash", "extra_cymbal")]

# Output order: GrooveToolbox's RhythmFeatures.get_all_features (§2.9), then the per-part syncopations.
RHYTHM_FEATURES: tuple[str, ...] = (
    "combined_syncopation",
    "polyphonic_syncopation",
    "low_syncopation",
    "mid_syncopation",
    "high_syncopation",
    "weak_to_strong_ratio",
    "low_density",
    "mid_density",
    "high_density",
    "total_density",
    "hiness",
    "hisyncness",
    "average_intensity",
    "total_complexity",
    "autocorrelation_skew",
    "autocorrelation_max_amplitude",
    "autocorrelation_centroid",
    "autocorrelation_harmonicity",
    "symmetry",
    *(f"{part}_syncopation" for part in PARTS),
)
MICROTIMING_FEATURES: tuple[str, ...] = ("is_swung", "swingness", "laidbackness", "timing_accuracy")

# Longuet-Higgins & Lee weights (+5) for monophonic syncopation (§2.1) and Witek weights for polyphonic (§2.3).
_LHL = np.tile([5, 1, 2, 1, 3, 1, 2, 1, 4, 1, 2, 1, 3, 1, 2, 1], LOOP_BARS)
_WITEK = np.tile([0, -3, -2, -3, -1, -3, -2, -3, -1, -3, -2, -3, -1, -3, -2, -3], LOOP_BARS)
# "All sixteenth off-positions hit" over two bars: GrooveToolbox's normaliser (the true maximum is 36, §2.1).
_SYNCOPATION_NORMALISER = 30.0
_HARMONIC_PERIOD = STEPS_PER_BAR
_INHARMONIC_ALPHA = 0.15
_SWING_THRESHOLD_MS = -25.0
_EVENT_THRESHOLD_MS = 12.0


def _loop(layer: np.ndarray) -> np.ndarray:
    """A 1- or 2-bar (steps, 5) layer as 32 steps."""
    if layer.shape[0] == STEPS_PER_BAR:
        return np.concatenate([layer, layer])
    if layer.shape[0] != LOOP_STEPS:
        raise ValueError(f"GrooveToolbox features need 1 or 2 bars, got {layer.shape[0] // STEPS_PER_BAR}")
    return layer


def kit_matrix(pattern: Pattern) -> np.ndarray:
    """32 × 10 velocity matrix of a 1- or 2-bar pattern (binary hits when it has no velocities)."""
    layer = pattern.hits.astype(np.float64) if pattern.velocities is None else pattern.velocities.astype(np.float64)
    matrix = np.zeros((LOOP_STEPS, len(KIT_PARTS)))
    for part_index, part in enumerate(PARTS):
        matrix[:, PART_TO_KIT_COLUMN[part]] = _loop(layer)[:, part_index]
    return matrix


def monophonic_syncopation(part: np.ndarray) -> float:
    """§2.1 over a 32-step part, ÷30: each hit scores the rise to an empty next (else next-but-one) step."""
    hit = part != 0
    rise_1 = np.roll(_LHL, -1) - _LHL
    rise_2 = np.roll(_LHL, -2) - _LHL
    first = ~np.roll(hit, -1) & (rise_1 > 0)
    second = ~first & ~np.roll(hit, -2) & (rise_2 > 0)
    score = np.where(first, rise_1, np.where(second, rise_2, 0))
    return float(np.sum(score[hit])) / _SYNCOPATION_NORMALISER


def _stream_syncopation(matrix: np.ndarray, columns: list[int]) -> float:
    return monophonic_syncopation(np.minimum(matrix[:, columns].sum(axis=1), 1.0))


def polyphonic_syncopation(matrix: np.ndarray, *, as_coded_rest_test: bool = False) -> float:
    """Witek-style syncopation between the low (kick), mid (snare+toms) and high (cymbals) streams (§2.3).

    A kick (resp. mid) hit not followed by its own stream within 2 steps scores against the first other-stream
    event within 2 steps, or against the rest if both following steps are silent in the other streams.
    ``as_coded_rest_test`` reproduces GrooveToolbox's broken rest test and 4-step scan, only to check its figures.
    """
    low = matrix[:, _LOW_COLUMNS].sum(axis=1)
    mid = matrix[:, _MID_COLUMNS].sum(axis=1)
    high = matrix[:, _HIGH_COLUMNS].sum(axis=1)
    total = 0.0
    for own, first_other, constants in (
        (low, mid, (2, 5, 6)),  # kick: vs Mid / MidAndHigh, High, None
        (mid, low, (1, 5, 6)),  # snare: vs Low / LowAndHigh, High, None
    ):
        both_or_first, high_only, rest = constants
        for i in np.flatnonzero(own):
            ahead = [(i + d) % LOOP_STEPS for d in (1, 2, 3, 4)]
            if own[ahead[0]] or own[ahead[1]]:
                continue
            scan = ahead if as_coded_rest_test else ahead[:2]
            event = next((j for j in scan if first_other[j] or high[j]), None)
            strongest_rest = max(_WITEK[ahead[0]], _WITEK[ahead[1]])
            silent, reference = event is None, strongest_rest
            if as_coded_rest_test:
                # GrooveToolbox adds a list where it means high[i+2], so its rest case fires only at step 30, and it
                # weighs the rest by the scanned event (or step 0) instead of the rest itself (§2.3 a, c).
                silent = i == LOOP_STEPS - 2 and not (first_other[ahead[0]] or first_other[ahead[1]] or high[ahead[0]])
                reference = _WITEK[0 if event is None else event]
            # A step shared by two mid parts (snare + tom) is one onset, not two.
            weight = min(float(own[i]), 1.0)
            if silent:
                if reference > _WITEK[i]:
                    total += weight * (strongest_rest - _WITEK[i] + rest)
            elif event is not None and _WITEK[event] >= _WITEK[i]:
                bonus = high_only if not first_other[event] else both_or_first
                total += weight * (_WITEK[event] - _WITEK[i] + bonus)
    return total


def autocorrelation_curve(matrix: np.ndarray) -> np.ndarray:
    """Σ over parts of each part's autocorrelation at lags 1…32 (pandas normalisation; constant part → 0)."""
    centred = matrix - matrix.mean(axis=0)
    variance = np.sum(centred**2, axis=0)
    curve = np.zeros(LOOP_STEPS)
    for lag in range(1, LOOP_STEPS + 1):
        products = np.sum(centred[: LOOP_STEPS - lag] * centred[lag:], axis=0)
        curve[lag - 1] = np.sum(np.divide(products, variance, out=np.zeros_like(products), where=variance > 0))
    return curve


def autocorrelation_peak_lags(curve: np.ndarray) -> np.ndarray:
    """Lags of the local maxima of the curve with negative values set to 0 (end points never count)."""
    return local_maxima(np.maximum(curve, 0.0)) + 1


def local_maxima(values: np.ndarray) -> np.ndarray:
    """Indices of the samples higher than both neighbours, a flat top counting once at its middle (rounded down),
    the ends never: what ``scipy.signal.find_peaks(values)`` returns. Kept in NumPy because importing SciPy costs
    more CPU than all of 'jaki analyze' may (a second)."""
    if len(values) < 3:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])  # first index of each run of equal values
    ends = np.r_[starts[1:], len(values)] - 1
    level = values[starts]
    inner = np.arange(1, len(starts) - 1)
    peaks = inner[(level[inner] > level[inner - 1]) & (level[inner] > level[inner + 1])]
    return (starts[peaks] + ends[peaks]) // 2


def skewness(values: np.ndarray) -> float:
    """The sample's (biased) skewness m3 / m2^1.5, as ``scipy.stats.skew(values)`` computes it."""
    centred = values - values.mean()
    return float(np.mean(centred**3) / np.mean(centred**2) ** 1.5)


def _autocorrelation_features(curve: np.ndarray) -> dict[str, float]:
    lags = np.arange(LOOP_STEPS)
    counted = lags * curve >= 0
    denominator = np.sum(curve[counted])
    centroid = float(np.sum((lags * curve)[counted]) / denominator) if denominator != 0 else float(STEPS_PER_BAR)
    rectified = np.maximum(curve, 0.0)
    peak_lags = autocorrelation_peak_lags(curve)
    remainders = _HARMONIC_PERIOD % peak_lags
    alpha = _INHARMONIC_ALPHA * _HARMONIC_PERIOD
    inharmonic = (remainders > alpha) & (remainders < _HARMONIC_PERIOD - alpha)
    harmonicity = 1.0
    if len(peak_lags):
        harmonicity = math.exp(-0.25 * len(peak_lags) * np.sum(rectified[peak_lags[inharmonic] - 1]) / rectified.max())
    is_constant = np.ptp(curve) == 0
    return {
        "autocorrelation_skew": 0.0 if is_constant else skewness(curve),
        "autocorrelation_max_amplitude": float(curve.max()),
        "autocorrelation_centroid": centroid,
        "autocorrelation_harmonicity": harmonicity,
    }


def rhythm_features(pattern: Pattern) -> dict[str, float]:
    """GrooveToolbox rhythm features of a 1-bar (tiled) or 2-bar pattern, keyed and ordered as ``RHYTHM_FEATURES``."""
    matrix = kit_matrix(pattern)
    onsets = matrix[matrix > 0]
    total_energy = float(onsets.sum())
    low_density = float(matrix[:, _LOW_COLUMNS].sum()) / LOOP_STEPS
    mid_density = float(matrix[:, _MID_COLUMNS].sum()) / LOOP_STEPS
    high_density = float(matrix[:, _HIGH_COLUMNS].sum()) / LOOP_STEPS
    total_density = total_energy / matrix.size
    part_syncopation = [monophonic_syncopation(matrix[:, column]) for column in range(matrix.shape[1])]
    combined = float(sum(part_syncopation))
    high_syncopation = _stream_syncopation(matrix, _HIGH_COLUMNS)
    on_quarter = np.arange(LOOP_STEPS) % 4 == 0
    strong, weak = float(matrix[on_quarter].sum()), float(matrix[~on_quarter].sum())
    first_bar, second_bar = matrix[:STEPS_PER_BAR], matrix[STEPS_PER_BAR:]
    shared = (first_bar > 0) & (second_bar > 0)
    features = {
        "combined_syncopation": combined,
        "polyphonic_syncopation": polyphonic_syncopation(matrix),
        "low_syncopation": _stream_syncopation(matrix, _LOW_COLUMNS),
        "mid_syncopation": _stream_syncopation(matrix, _MID_COLUMNS),
        "high_syncopation": high_syncopation,
        "weak_to_strong_ratio": weak / strong if strong else (math.inf if weak else 0.0),
        "low_density": low_density,
        "mid_density": mid_density,
        "high_density": high_density,
        "total_density": total_density,
        "hiness": high_density / total_density if total_density else 0.0,
        "hisyncness": high_syncopation / high_density if high_density else 0.0,
        "average_intensity": float(onsets.mean()) if onsets.size else 0.0,
        "total_complexity": math.hypot(total_density, combined),
        **_autocorrelation_features(autocorrelation_curve(matrix)),
        "symmetry": (
            2 * float(np.sum(1 - np.abs(first_bar - second_bar)[shared])) / onsets.size if onsets.size else 0.0
        ),
        **{f"{part}_syncopation": part_syncopation[PART_TO_KIT_COLUMN[part]] for part in PARTS},
    }
    return {name: float(features[name]) for name in RHYTHM_FEATURES}


def _event_flags(offsets: np.ndarray) -> list[bool]:
    """Per bar, [kick1, snare2, kick3, snare4] × [late, early] vs the grid or vs the hi-hat on that row (§2.8)."""
    kick, snare, hat = _KIT["kick"], _KIT["snare"], _KIT["closed_hihat"]
    flags = []
    for bar in range(LOOP_BARS):
        for beat_step, drum in ((0, kick), (4, snare), (8, kick), (12, snare)):
            row = offsets[bar * STEPS_PER_BAR + beat_step]
            deviation, versus_hat = row[drum], row[drum] - row[hat]
            flags.append(bool(deviation > _EVENT_THRESHOLD_MS or versus_hat > _EVENT_THRESHOLD_MS))
            flags.append(bool(deviation < -_EVENT_THRESHOLD_MS or versus_hat < -_EVENT_THRESHOLD_MS))
    return flags


def microtiming_features(pattern: Pattern) -> dict[str, float] | None:
    """Swing, laid-back feel and timing accuracy (ms) of a 1- or 2-bar pattern; None when timing is unknown."""
    if pattern.offsets_ms is None:
        return None
    offsets = np.full((LOOP_STEPS, len(KIT_PARTS)), np.nan)
    for part_index, part in enumerate(PARTS):
        offsets[:, PART_TO_KIT_COLUMN[part]] = _loop(pattern.offsets_ms.astype(np.float64))[:, part_index]
    timed = ~np.isnan(offsets)
    counts = timed.sum(axis=1)
    row_means = np.divide(np.nansum(offsets, axis=1), counts, out=np.full(LOOP_STEPS, np.nan), where=counts > 0)
    swing_rows = row_means[3::4]
    swung = int(np.sum(swing_rows < _SWING_THRESHOLD_MS))
    swingness = 1 + swung / len(swing_rows) / 10 if swung else 0.0
    flags = _event_flags(offsets)
    late, early = flags[0::2], flags[1::2]
    laidback, pushed = sum(late) / len(late), sum(early) / len(early)
    eighth_rows = row_means[0::2]
    eighth_rows = eighth_rows[~np.isnan(eighth_rows)]
    return {
        "is_swung": float(swingness > 0),
        "swingness": float(swingness),
        "laidbackness": float(laidback - pushed),
        "timing_accuracy": float(np.mean(np.abs(eighth_rows))) if eighth_rows.size else math.nan,
    }
