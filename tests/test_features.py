"""Tuner features against the worked examples of FEATURES.md §6.1 (our syncopation, §0) and their invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from jaki.errors import JakiInputError
from jaki.features import (
    FEATURE_RANGES,
    LEVELS,
    POSSIBLE_VALUES,
    TUNER_FEATURES,
    Band,
    bands_from_json,
    bands_to_json,
    level_bands,
    tuner_feature_values,
    tuner_features,
)
from jaki.pattern import N_CATEGORIES, PARTS, REST, Pattern, category_index

bars = arrays(np.int64, 16, elements=st.integers(0, N_CATEGORIES - 1))


def test_pattern_a_features(pattern_a: Pattern) -> None:
    assert tuner_features(pattern_a) == {"cymbal_density": 8, "drum_density": 4, "syncopation": 0, "repetition": 1.0}


def test_pattern_b_features(pattern_b: Pattern) -> None:
    features = tuner_features(pattern_b)
    assert features["cymbal_density"] == 6
    assert features["drum_density"] == 8
    assert features["syncopation"] == 15
    assert features["repetition"] == pytest.approx(2 / 9, abs=1e-4)


@pytest.mark.parametrize(("part", "expected"), [("kick", 4), ("snare", 3), ("closed", 0), ("open", 4), ("toms", 4)])
def test_pattern_b_syncopation_per_part(pattern_b: Pattern, part: str, expected: int) -> None:
    only_part = np.zeros_like(pattern_b.hits)
    column = PARTS.index(part)
    only_part[:, column] = pattern_b.hits[:, column]
    assert tuner_features(Pattern(only_part))["syncopation"] == expected


def test_cymbal_density_counts_scot_and_co_once() -> None:
    bar = Pattern.from_labels(["scot", "co", *["r"] * 14])
    assert tuner_features(bar)["cymbal_density"] == 2


def test_syncopation_maximum_is_reached_by_every_part_at_once() -> None:
    steps = {1, 3, 6, 7, 9, 11, 14, 15}
    bar = Pattern.from_labels(["kscot" if step in steps else "r" for step in range(16)])
    assert tuner_features(bar)["syncopation"] == FEATURE_RANGES["syncopation"][1] == 90


def test_all_rest_bar_is_all_zero() -> None:
    assert tuner_feature_values(np.full(16, REST)).tolist() == [0.0, 0.0, 0.0, 0.0]


def test_wrong_shapes_are_refused(pattern_a: Pattern) -> None:
    with pytest.raises(ValueError):
        tuner_feature_values(np.zeros(15, dtype=np.int64))
    with pytest.raises(ValueError):
        tuner_features(Pattern.concat([pattern_a, pattern_a]))


@given(bars)
def test_densities_count_hits(categories: np.ndarray) -> None:
    hits = Pattern.from_categories(categories).hits
    cymbals, drums, syncopation, repetition = tuner_feature_values(categories)
    assert cymbals == np.sum(hits[:, 2] | hits[:, 3])
    assert drums == hits[:, [0, 1, 4]].sum()
    assert 0 <= repetition <= 1
    for value, feature in zip((cymbals, drums, syncopation, repetition), TUNER_FEATURES, strict=True):
        assert np.any(POSSIBLE_VALUES[feature] == value)


@given(arrays(np.int64, (3, 2, 16), elements=st.integers(0, N_CATEGORIES - 1)))
def test_vectorised_equals_per_bar(batch: np.ndarray) -> None:
    values = tuner_feature_values(batch)
    assert values.shape == (3, 2, 4)
    for index in np.ndindex(3, 2):
        expected = tuner_features(Pattern.from_categories(batch[index]))
        assert values[index].tolist() == [expected[f] for f in TUNER_FEATURES]


@given(bars, st.integers(0, 15))
def test_syncopation_of_one_hit_matches_the_rule(categories: np.ndarray, step: int) -> None:
    """A lone kick scores the rise to the next step, else to the one after (§2.1), both empty here."""
    profile = [5, 1, 2, 1, 3, 1, 2, 1, 4, 1, 2, 1, 3, 1, 2, 1]
    bar = np.full(16, REST)
    bar[step] = category_index("k")
    following, after = profile[(step + 1) % 16], profile[(step + 2) % 16]
    rise = following - profile[step] if following > profile[step] else max(after - profile[step], 0)
    assert tuner_feature_values(bar)[2] == rise


def test_possible_values_lie_in_feature_ranges() -> None:
    for feature in TUNER_FEATURES:
        lo, hi = FEATURE_RANGES[feature]
        assert POSSIBLE_VALUES[feature][0] == lo
        assert POSSIBLE_VALUES[feature][-1] == hi
    assert 2 / 9 in POSSIBLE_VALUES["repetition"]
    assert len(POSSIBLE_VALUES["repetition"]) == 41


def test_band_distance() -> None:
    band = Band(3.0, 5.0)
    assert band.distance(4.0) == 0.0
    assert band.distance(1.5) == 1.5
    assert band.distance(7.0) == 2.0
    assert band.contains(3.0) and band.contains(5.0) and not band.contains(5.5)


def test_level_bands_are_terciles() -> None:
    cymbals = np.arange(9, dtype=float)  # terciles 2.67 and 5.33
    values = np.stack([cymbals, cymbals, cymbals, np.linspace(0, 1, 9)], axis=1)
    bands = level_bands(values)
    assert bands["cymbal_density"] == {"low": Band(0, 2), "medium": Band(3, 5), "high": Band(6, 16)}
    assert bands["syncopation"]["high"] == Band(6, 90)


def test_level_bands_with_tied_terciles_give_the_tie_its_own_medium_band() -> None:
    values = np.tile([4.0, 4.0, 4.0, 0.0], (9, 1))
    bands = level_bands(values)
    assert bands["drum_density"] == {"low": Band(0, 3), "medium": Band(4, 4), "high": Band(5, 48)}
    assert bands["repetition"] == {"low": Band(0, 0), "medium": Band(0.125, 0.125), "high": Band(2 / 15, 1)}


def test_level_bands_refuse_no_bars() -> None:
    with pytest.raises(JakiInputError):
        level_bands(np.zeros((0, 4)))


@settings(max_examples=50)
@given(
    st.integers(1, 40).flatmap(
        lambda n: arrays(np.int64, (n, 16), elements=st.sampled_from([REST, REST, 0, 4, 14]) | st.integers(0, 31))
    ),
    arrays(np.int64, (20, 16), elements=st.integers(0, N_CATEGORIES - 1)),
)
def test_bands_partition_every_possible_value(train: np.ndarray, probes: np.ndarray) -> None:
    bands = level_bands(tuner_feature_values(train))
    for feature in TUNER_FEATURES:
        low, medium, high = (bands[feature][level] for level in LEVELS)
        assert low.lo == FEATURE_RANGES[feature][0] and high.hi == FEATURE_RANGES[feature][1]
        assert low.lo <= low.hi < medium.lo <= medium.hi < high.lo <= high.hi
        for value in POSSIBLE_VALUES[feature]:
            assert sum(band.contains(value) for band in (low, medium, high)) == 1
    for row in tuner_feature_values(probes):
        for feature, value in zip(TUNER_FEATURES, row, strict=True):
            assert sum(band.contains(value) for band in bands[feature].values()) == 1


def test_bands_json_round_trip() -> None:
    bands = level_bands(tuner_feature_values(np.random.default_rng(0).integers(0, N_CATEGORIES, (100, 16))))
    document = bands_to_json(bands)
    assert set(document) == set(TUNER_FEATURES)
    assert bands_from_json(document) == bands


@pytest.mark.parametrize(
    "document",
    [{}, {"cymbal_density": {"low": [0]}}, {f: {lv: [2, 1] for lv in LEVELS} for f in TUNER_FEATURES}],
)
def test_bands_from_malformed_json(document: dict) -> None:
    with pytest.raises(JakiInputError):
        bands_from_json(document)
