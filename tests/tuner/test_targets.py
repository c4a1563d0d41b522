from __future__ import annotations

import numpy as np
import pytest

from jaki.errors import JakiInputError
from jaki.features import Band
from jaki.tuner.targets import NUMBER, SKIP, Targets, level_combinations, sample_level_targets, target_arrays


def test_levels_map_to_the_model_bands_and_numbers_to_narrow_bands(bands):
    targets = Targets(cymbal_density="high", drum_density=7, repetition=0.5)
    assert targets.bands(bands) == {
        "cymbal_density": Band(9, 16),
        "drum_density": Band(6.5, 7.5),
        "syncopation": None,
        "repetition": Band(0.45, 0.55),
    }
    arrays = target_arrays(targets, bands)
    assert arrays.kind.tolist() == [[2, NUMBER, SKIP, NUMBER]]
    assert arrays.requested.tolist() == [[True, True, False, True]]
    assert arrays.lo.tolist() == [[9, 6.5, 0, 0.45]]


def test_text_requests_parse_and_bad_ones_are_input_errors():
    assert Targets.from_mapping({"syncopation": "7", "repetition": "skip", "drum_density": "low"}) == Targets(
        drum_density="low", syncopation=7.0
    )
    with pytest.raises(JakiInputError, match="unknown level"):
        Targets(cymbal_density="loud")
    with pytest.raises(JakiInputError, match="out of range"):
        Targets(cymbal_density=17)
    with pytest.raises(JakiInputError, match="unknown feature"):
        Targets.from_mapping({"tempo": "high"})
    with pytest.raises(JakiInputError, match="expected"):
        Targets.from_mapping({"syncopation": "lots"})


def test_all_255_level_combinations_by_number_of_requests(bands):
    combos = level_combinations()
    assert len(combos) == 255 == len(set(combos))
    counts = np.bincount(target_arrays(combos, bands).requested.sum(axis=1))
    assert counts.tolist() == [0, 12, 54, 108, 81]


def test_sampled_targets_are_never_empty_and_reproducible(bands):
    first = sample_level_targets(np.random.default_rng(4), 500, bands, number_share=0.3)
    again = sample_level_targets(np.random.default_rng(4), 500, bands, number_share=0.3)
    assert first.requested.any(axis=1).all()
    assert np.array_equal(first.kind, again.kind) and np.array_equal(first.lo, again.lo)
    numbers = first.kind == NUMBER
    assert 0.2 < numbers.sum() / first.requested.sum() < 0.4
    assert np.all(first.lo[numbers] < first.hi[numbers])
