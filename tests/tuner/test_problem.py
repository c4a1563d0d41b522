"""The problem: the reward on hand-computed cases (pattern A of FEATURES.md §6: cymbal 8, drum 4, syncopation 0,
repetition 1), the edit table against the steps it predicts, and the edit rules."""

from __future__ import annotations

import numpy as np
import pytest

from jaki.errors import JakiInputError
from jaki.features import tuner_feature_values
from jaki.pattern import CATEGORY_LABELS as LABELS
from jaki.pattern import CATEGORY_PARTS, N_CATEGORIES, REST, STEPS_PER_BAR
from jaki.tuner.problem import (
    N_EDITS,
    EditRules,
    RewardConfig,
    TuningProblem,
    allowed_categories,
    distance_scales,
    edit_reward,
    feature_potential,
    keep_mask,
    potential,
    requests_met,
)
from jaki.tuner.scorer import TableScorer
from jaki.tuner.targets import Targets, level_combinations, target_arrays


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
    assert edit_reward(after - before, np.zeros(1), np.array([1.0]), config) == pytest.approx([0.48])
    assert edit_reward(before - before, np.zeros(1), np.array([0.0]), config).tolist() == [0.0]  # stop


def test_skipped_and_met_features_contribute_nothing(bands, pattern_a):
    values = tuner_feature_values(pattern_a.categories())[None]
    scales = distance_scales(bands)
    config = RewardConfig()
    inside = target_arrays(Targets(cymbal_density="medium", syncopation="low", repetition="high"), bands)
    assert feature_potential(values, inside, scales, config).tolist() == [0.0]
    far_but_skipped = target_arrays(Targets(cymbal_density="medium"), bands)  # drum density 4 would be far from high
    assert feature_potential(values, far_but_skipped, scales, config).tolist() == [0.0]


def _random_bars(rng: np.random.Generator, n: int) -> np.ndarray:
    """Bars of every kind, three- and four-hand steps included."""
    bars = rng.integers(0, N_CATEGORIES, size=(n, STEPS_PER_BAR))
    bars[: n // 2] = np.where(rng.random((n // 2, STEPS_PER_BAR)) < 0.5, REST, bars[: n // 2])
    return bars


def test_edit_table_gain_is_the_reward_the_step_pays(bands):
    """Every method ranks edits by the table's gain: with independent steps (exact estimate) it is the reward
    problem.step pays, for fresh edits, re-edits and edits back to the untuned category alike."""
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=2.0, size=(STEPS_PER_BAR, N_CATEGORIES, N_CATEGORIES))
    scorer = TableScorer(logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True)))
    problem = TuningProblem(scorer, bands, RewardConfig(closeness=0.3, edit_cost=0.05))
    bars = _random_bars(rng, 6)
    combos = level_combinations()
    targets = target_arrays([combos[i] for i in rng.choice(len(combos), 6)], bands)
    batch = problem.start(bars[::-1], bars, targets)
    problem.step(batch, rng.integers(0, N_EDITS, size=6))  # one step edited: re-edits and reverts exist
    table = problem.edit_table(batch, once=False)
    actions = rng.integers(0, N_EDITS, size=(40, 6))
    for action in actions:
        copy = batch.take(np.arange(6))
        rewards, _, _ = problem.step(copy, action)
        np.testing.assert_allclose(rewards, table.flat("gain")[np.arange(6), action], atol=1e-5)  # float32 view
        np.testing.assert_allclose(copy.values, table.values.reshape(6, N_EDITS, 4)[np.arange(6), action])
        exact = scorer(copy.seed, copy.bar) - batch.log_likelihood
        np.testing.assert_allclose(table.flat("log_likelihood_change")[np.arange(6), action], exact, atol=1e-4)


def test_playable_steps_kept_parts_and_anchors_are_the_allowed_categories():
    start = np.full((1, STEPS_PER_BAR), REST)
    start[0, [0, 4, 12]] = [LABELS.index("k"), LABELS.index("s"), LABELS.index("s")]
    start[0, 8] = LABELS.index("scot")  # four hands: allowed because the untuned bar has it
    allowed = allowed_categories(start, keep_mask(["toms"], 1), EditRules())
    hands = CATEGORY_PARTS[:, 1:].sum(axis=1)
    at_8 = np.flatnonzero(allowed[0, 8])
    assert LABELS.index("scot") in at_8 and all(hands[c] <= 2 or c == LABELS.index("scot") for c in at_8)
    assert not any(CATEGORY_PARTS[c, 4] for c in np.flatnonzero(allowed[0, 3]))  # toms kept: none added
    assert all(CATEGORY_PARTS[c, 0] for c in np.flatnonzero(allowed[0, 0]))  # beat 1 kick stays
    assert all(CATEGORY_PARTS[c, 1] for c in np.flatnonzero(allowed[0, 12]))  # backbeat snare stays
    assert not all(CATEGORY_PARTS[c, 1] for c in np.flatnonzero(allowed[0, 8]))  # snare elsewhere may go
    # One part added per step: a rest step may become any one part but toms (kept), the kick step (an anchor) may
    # add one of snare / closed / open.
    parts = CATEGORY_PARTS.astype(int)
    assert allowed[0, 3].tolist() == [parts[c].sum() <= 1 and not parts[c, 4] for c in range(32)]
    assert allowed[0, 0].tolist() == [
        parts[c, 0] == 1 and parts[c, 1:4].sum() <= 1 and not parts[c, 4] for c in range(32)
    ]
    free = allowed_categories(start, keep_mask(None, 1), EditRules(max_hands=4, max_added_parts=5, keep_anchors=False))
    assert free.all()
    with pytest.raises(JakiInputError, match="unknown part"):
        keep_mask(["cowbell"], 1)
