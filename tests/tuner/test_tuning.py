from __future__ import annotations

import numpy as np
import pytest
import torch

from jaki.errors import JakiInputError
from jaki.features import tuner_features
from jaki.pattern import Pattern
from jaki.tuner import DQNConfig, RefineConfig, Targets, TuningAgent, tune
from jaki.tuner.agent import QNetwork
from jaki.tuner.reward import RewardConfig
from jaki.tuner.targets import level_combinations, target_arrays
from jaki.tuner.tuning import tune_batch

SMALL = dict(width=32, layers=1, heads=2, action_width=32)


@pytest.fixture
def agent(bands) -> TuningAgent:
    config = DQNConfig(**SMALL)
    torch.manual_seed(0)
    return TuningAgent(QNetwork(config), config, RewardConfig(), bands, {})


@pytest.mark.parametrize("method", ["agent", "greedy", "random", "none"])
def test_tune_result_describes_the_tuned_bar(method, scorer, bands, agent, pattern_a, pattern_b):
    targets = Targets(drum_density="high", syncopation="medium")
    result = tune(pattern_a, pattern_b, targets, scorer=scorer, bands=bands, agent=agent, method=method)
    assert result.pattern.n_bars == 1 and result.method == method
    changed = np.flatnonzero(result.pattern.categories() != pattern_b.categories())
    assert [e.step for e in result.edits] == changed.tolist()
    assert result.values == tuner_features(result.pattern)
    assert set(result.met) == {"drum_density", "syncopation"}
    for feature, met in result.met.items():
        lo, hi = result.bands[feature]
        assert met == (lo <= result.values[feature] <= hi)
    assert result.log_likelihood == pytest.approx(
        float(scorer(pattern_a.categories()[None], result.pattern.categories()[None])[0])
    )
    if method != "none":
        assert result.all_met
    else:
        assert not result.edits and result.log_likelihood == result.start_log_likelihood


def test_refinement_reports_progress_and_meets_the_requests(scorer, bands, agent, pattern_a, pattern_b):
    seen = []
    result = tune(
        pattern_a,
        pattern_b,
        Targets(cymbal_density="low", repetition="high"),
        scorer=scorer,
        agent=agent,
        method="refine",
        refine=RefineConfig(steps=8, n_envs=4),
        progress=seen.append,
    )
    assert result.all_met
    assert seen and seen[-1].step == 8


def test_agent_methods_tune_every_combination_of_a_seed(scorer, bands, agent, pattern_b):
    combos = level_combinations()
    arrays = target_arrays(combos, bands)
    bars = np.repeat(pattern_b.categories()[None], len(combos), axis=0)
    outcome = tune_batch("agent", bars, bars, arrays, scorer=scorer, bands=bands, agent=agent)
    assert outcome.met.sum() == arrays.requested.sum()  # with the safety net, every request is met
    assert np.all(outcome.edits <= 16)


def test_bad_inputs_are_input_errors(scorer, bands, agent, pattern_a):
    two_bars = Pattern.concat([pattern_a, pattern_a])
    with pytest.raises(JakiInputError, match="2 bars"):
        tune(two_bars, pattern_a, Targets(drum_density="low"), scorer=scorer, agent=agent)
    with pytest.raises(JakiInputError, match="every feature is skipped"):
        tune(pattern_a, pattern_a, Targets(), scorer=scorer, agent=agent)
    with pytest.raises(JakiInputError, match="unknown"):
        tune(pattern_a, pattern_a, Targets(drum_density="low"), scorer=scorer, agent=agent, method="magic")
    with pytest.raises(JakiInputError, match="model"):
        tune(pattern_a, pattern_a, Targets(drum_density="low"), agent=agent)


@pytest.mark.parametrize("method", ["none", "agent", "greedy"])
def test_met_at_band_edges_for_numbers_and_levels(method, scorer, bands, agent, pattern_a):
    # 2 matching half-bar pairs over 10 sounding steps: repetition 0.4, the float top 0.39999999999999997 of 0.35's
    # band; drum density 9, the top of medium's band 7..9.
    bar = Pattern.from_grid(
        "kick x.xx....x.......\nsnare ....x.......x.x.\nclosed ......xx..x.....\nopen ................\n"
        "toms ..x...........x."
    )
    values = tuner_features(bar)
    assert values["repetition"] == 0.4 and values["drum_density"] == 9
    result = tune(
        pattern_a, bar, Targets(repetition=0.35, drum_density="medium"), scorer=scorer, agent=agent, method=method
    )
    assert result.met == {"repetition": True, "drum_density": True}
    assert not result.edits  # met already: nothing to do
    outside = tune(pattern_a, bar, Targets(drum_density="high"), scorer=scorer, agent=agent, method="none")
    assert outside.met == {"drum_density": False}
