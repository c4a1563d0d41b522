"""The reward on hand-computed cases (pattern A of FEATURES.md §6: cymbal 8, drum 4, syncopation 0, repetition 1)."""

from __future__ import annotations

import numpy as np
import pytest

from jaki.features import tuner_feature_values
from jaki.tuner.reward import RewardConfig, distance_scales, feature_potential, potential, requests_met, step_reward
from jaki.tuner.targets import Targets, target_arrays


def test_scales_are_medium_band_widths(bands):
    # cymbal [6, 8], drum [7, 9], syncopation [7, 11], repetition [0.25, 0.5]
    assert distance_scales(bands).tolist() == [2, 2, 4, 0.25]


def test_potential_by_hand(bands, pattern_a):
    values = tuner_feature_values(pattern_a.categories())[None]
    assert values.tolist() == [[8, 4, 0, 1]]
    config = RewardConfig(closeness=0.1, met_bonus=1.0, edit_cost=0.02)
    scales = distance_scales(bands)
    # drum density high [10, 48]: 6 below → 6/2 + bonus 1; cymbal medium [6, 8]: inside → 0; the rest skipped.
    targets = target_arrays(Targets(cymbal_density="medium", drum_density="high"), bands)
    assert feature_potential(values, targets, scales, config).tolist() == [-4.0]
    # log p 3 nats below the untuned bar's costs 0.3
    assert potential(values, np.array([-13.0]), np.array([-10.0]), targets, scales, config) == pytest.approx([-4.3])
    assert requests_met(values, targets).tolist() == [[True, False, False, False]]


def test_reward_is_the_change_of_potential_minus_the_edit_fee(bands, pattern_a):
    config = RewardConfig(closeness=0.0, met_bonus=1.0, edit_cost=0.02)
    targets = target_arrays(Targets(drum_density="high"), bands)
    scales = distance_scales(bands)
    before = feature_potential(tuner_feature_values(pattern_a.categories())[None], targets, scales, config)
    edited = pattern_a.with_step(2, "kc")  # one more kick: drum density 5
    after = feature_potential(tuner_feature_values(edited.categories())[None], targets, scales, config)
    assert after.tolist() == [-3.5]
    assert step_reward(before, after, np.array([1.0]), config) == pytest.approx([0.48])
    assert step_reward(before, before, np.array([0.0]), config).tolist() == [0.0]  # stop


def test_skipped_and_met_features_contribute_nothing(bands, pattern_a):
    values = tuner_feature_values(pattern_a.categories())[None]
    scales = distance_scales(bands)
    config = RewardConfig()
    inside = target_arrays(Targets(cymbal_density="medium", syncopation="low", repetition="high"), bands)
    assert feature_potential(values, inside, scales, config).tolist() == [0.0]
    far_but_skipped = target_arrays(Targets(cymbal_density="medium"), bands)  # drum density 4 would be far from high
    assert feature_potential(values, far_but_skipped, scales, config).tolist() == [0.0]
