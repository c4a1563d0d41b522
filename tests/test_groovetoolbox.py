"""GrooveToolbox features against FEATURES.md §6.2 (A, B, B′) and §6.3, and their invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from jaki.groovetoolbox import (
    MICROTIMING_FEATURES,
    RHYTHM_FEATURES,
    autocorrelation_curve,
    autocorrelation_peak_lags,
    kit_matrix,
    local_maxima,
    microtiming_features,
    polyphonic_syncopation,
    rhythm_features,
    skewness,
)
from jaki.pattern import N_PARTS, PARTS, Pattern

EXPECTED_A = {
    "combined_syncopation": 0.0,
    "polyphonic_syncopation": 0.0,
    "low_syncopation": 0.0,
    "mid_syncopation": 0.0,
    "high_syncopation": 0.0,
    "weak_to_strong_ratio": 0.5,
    "low_density": 0.125,
    "mid_density": 0.125,
    "high_density": 0.5,
    "total_density": 0.075,
    "hiness": 6.6667,
    "hisyncness": 0.0,
    "average_intensity": 1.0,
    "total_complexity": 0.075,
    "autocorrelation_skew": 0.7347,
    "autocorrelation_max_amplitude": 2.25,
    "autocorrelation_centroid": 12.9191,
    "autocorrelation_harmonicity": 0.0797,
    "symmetry": 1.0,
    "kick_syncopation": 0.0,
    "snare_syncopation": 0.0,
    "closed_syncopation": 0.0,
    "open_syncopation": 0.0,
    "toms_syncopation": 0.0,
}
EXPECTED_B = {
    "combined_syncopation": 1.0,
    "polyphonic_syncopation": 30.0,  # intended rest test; 26 as coded
    "low_syncopation": 8 / 30,
    "mid_syncopation": 14 / 30,
    "high_syncopation": 0.0,
    "weak_to_strong_ratio": 16 / 12,
    "low_density": 0.1875,
    "mid_density": 0.3125,
    "high_density": 0.375,
    "total_density": 0.0875,
    "hiness": 4.2857,
    "hisyncness": 0.0,
    "average_intensity": 1.0,
    "total_complexity": 1.00382,
    "autocorrelation_skew": 2.6672,
    "autocorrelation_max_amplitude": 2.5,
    "autocorrelation_centroid": 15.9194,
    "autocorrelation_harmonicity": 0.5728,
    "symmetry": 1.0,
    "kick_syncopation": 8 / 30,
    "snare_syncopation": 6 / 30,
    "closed_syncopation": 0.0,
    "open_syncopation": 8 / 30,
    "toms_syncopation": 8 / 30,
}
# B′: B with the snare ghosts at steps 6 and 13 at velocity 0.5.
EXPECTED_B_PRIME = {
    **EXPECTED_B,
    "mid_density": 0.25,
    "total_density": 26 / 320,
    "hiness": 4.6154,
    "average_intensity": 26 / 28,
    "weak_to_strong_ratio": 14 / 12,
    "total_complexity": math.hypot(26 / 320, 1.0),
    "autocorrelation_skew": 2.6550,
    "autocorrelation_centroid": 15.7144,
    "autocorrelation_harmonicity": 0.5581,
}


def _ghosted(pattern_b: Pattern) -> Pattern:
    velocities = pattern_b.hits.astype(np.float32)
    velocities[[6, 13], PARTS.index("snare")] = 0.5
    return Pattern(pattern_b.hits, velocities)


def _approx(expected: dict[str, float]) -> dict[str, object]:
    return {name: pytest.approx(value, abs=1e-4) for name, value in expected.items()}


def test_pattern_a(pattern_a: Pattern) -> None:
    features = rhythm_features(pattern_a)
    assert list(features) == list(RHYTHM_FEATURES)
    assert features == _approx(EXPECTED_A)


def test_pattern_b(pattern_b: Pattern) -> None:
    assert rhythm_features(pattern_b) == _approx(EXPECTED_B)


def test_pattern_b_with_velocities(pattern_b: Pattern) -> None:
    assert rhythm_features(_ghosted(pattern_b)) == _approx(EXPECTED_B_PRIME)


@pytest.mark.parametrize(("variant", "expected"), [("a", 0.0), ("b", 26.0), ("b_prime", 26.0)])
def test_polyphonic_syncopation_as_coded(pattern_a: Pattern, pattern_b: Pattern, variant: str, expected: float) -> None:
    pattern = {"a": pattern_a, "b": pattern_b, "b_prime": _ghosted(pattern_b)}[variant]
    assert polyphonic_syncopation(kit_matrix(pattern), as_coded_rest_test=True) == expected


def test_two_identical_bars_equal_one_tiled_bar(pattern_b: Pattern) -> None:
    assert rhythm_features(Pattern.concat([pattern_b, pattern_b])) == rhythm_features(pattern_b)


def test_autocorrelation_hand_checks(pattern_a: Pattern) -> None:
    matrix = kit_matrix(pattern_a)
    hat_only = np.zeros_like(matrix)
    hat_only[:, 2] = matrix[:, 2]
    kick_only = np.zeros_like(matrix)
    kick_only[:, 0] = matrix[:, 0]
    assert autocorrelation_curve(hat_only)[:2] == pytest.approx([-0.96875, 0.9375])
    assert autocorrelation_curve(kick_only)[7] == pytest.approx(0.75)
    assert autocorrelation_curve(matrix)[7] == pytest.approx(2.25)


def test_autocorrelation_peaks(pattern_a: Pattern, pattern_b: Pattern) -> None:
    assert autocorrelation_peak_lags(autocorrelation_curve(kit_matrix(pattern_a))).tolist() == list(range(2, 31, 2))
    peaks_b = autocorrelation_peak_lags(autocorrelation_curve(kit_matrix(pattern_b)))
    assert peaks_b.tolist() == [2, 6, 8, 10, 16, 18, 24, 26]


def test_empty_pattern_has_defined_values() -> None:
    features = rhythm_features(Pattern.empty())
    assert all(math.isfinite(value) for value in features.values())
    assert features["total_density"] == features["symmetry"] == features["combined_syncopation"] == 0.0
    assert features["autocorrelation_centroid"] == 16.0
    assert features["autocorrelation_harmonicity"] == 1.0


def test_weak_hits_only_give_an_infinite_weak_to_strong_ratio() -> None:
    assert rhythm_features(Pattern.from_labels(["r", "k", *["r"] * 14]))["weak_to_strong_ratio"] == math.inf


def test_three_bars_are_refused() -> None:
    with pytest.raises(ValueError):
        rhythm_features(Pattern.empty(3))


def _timed(hits: np.ndarray, offsets: dict[tuple[int, int], float]) -> Pattern:
    layer = np.zeros(hits.shape, dtype=np.float32)
    for cell, value in offsets.items():
        layer[cell] = value
    return Pattern(hits, offsets_ms=layer)


def test_microtiming_laid_back_backbeat(pattern_a: Pattern) -> None:
    kick, snare = PARTS.index("kick"), PARTS.index("snare")
    loop = Pattern.concat([pattern_a, pattern_a])
    pattern = _timed(
        loop.hits, {**{(row, snare): 20.0 for row in (4, 12, 20, 28)}, (0, kick): -15.0, (16, kick): -15.0}
    )
    features = microtiming_features(pattern)
    assert list(features) == list(MICROTIMING_FEATURES)
    assert features == _approx({"is_swung": 0.0, "swingness": 0.0, "laidbackness": 0.25, "timing_accuracy": 3.4375})


def test_microtiming_swing() -> None:
    hits = np.zeros((32, N_PARTS), dtype=bool)
    hits[:, PARTS.index("closed")] = True
    pattern = _timed(hits, {(row, PARTS.index("closed")): -30.0 for row in (3, 7, 11, 15)})
    assert microtiming_features(pattern) == _approx(
        {"is_swung": 1.0, "swingness": 1.05, "laidbackness": 0.0, "timing_accuracy": 0.0}
    )


def test_microtiming_needs_timing(pattern_a: Pattern) -> None:
    assert microtiming_features(pattern_a) is None
    off_the_eighths = _timed(Pattern.from_labels(["r", "k", *["r"] * 14]).hits, {})
    assert math.isnan(microtiming_features(off_the_eighths)["timing_accuracy"])


loops = arrays(np.bool_, (32, N_PARTS))
velocity_layers = arrays(np.float32, (32, N_PARTS), elements=st.floats(0.0625, 1.0, width=32))


@settings(max_examples=60, deadline=None)
@given(loops, velocity_layers)
def test_ranges_and_invariants(hits: np.ndarray, velocities: np.ndarray) -> None:
    binary = rhythm_features(Pattern(hits))
    weighted = rhythm_features(Pattern(hits, velocities))
    onsets = int(hits.sum())
    assert binary["total_density"] == pytest.approx(onsets / 320)
    assert binary["low_density"] == pytest.approx(hits[:, 0].sum() / 32)
    assert binary["high_density"] == pytest.approx(hits[:, 2:4].sum() / 32)
    assert binary["combined_syncopation"] == pytest.approx(sum(binary[f"{part}_syncopation"] for part in PARTS))
    for features in (binary, weighted):
        assert 0 <= features["symmetry"] <= 1 + 1e-9
        assert 0 < features["autocorrelation_harmonicity"] <= 1
        assert 0 <= features["combined_syncopation"] <= 1.2 * N_PARTS
        assert 0 <= features["hiness"] <= 10 + 1e-9
        assert features["polyphonic_syncopation"] >= 0
        assert all(isinstance(value, float) and not math.isnan(value) for value in features.values())
    assert weighted["total_density"] <= binary["total_density"] + 1e-9
    # Syncopation ignores velocities: only where the hits are matters.
    assert weighted["combined_syncopation"] == binary["combined_syncopation"]


@settings(max_examples=300, deadline=None)
@given(arrays(np.float64, st.integers(0, 40), elements=st.sampled_from([0.0, 0.5, 1.0, 2.0])))
def test_local_maxima_and_skewness_are_scipys(values):
    """The NumPy versions (kept so that 'jaki analyze' need not import SciPy) give SciPy's results."""
    signal = pytest.importorskip("scipy.signal")
    stats = pytest.importorskip("scipy.stats")
    assert local_maxima(values).tolist() == signal.find_peaks(values)[0].tolist()
    if len(values) > 1 and np.ptp(values) > 0:
        assert skewness(values) == pytest.approx(float(stats.skew(values)), abs=1e-12)
