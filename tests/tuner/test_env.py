from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from jaki.features import tuner_feature_values
from jaki.pattern import N_CATEGORIES, REST, STEPS_PER_BAR
from jaki.tuner.env import TunerEnv
from jaki.tuner.problem import N_ACTIONS, STOP, EditRules, RewardConfig, TuningProblem, candidate_values
from jaki.tuner.targets import Targets, target_arrays


def _bars(rng: np.random.Generator, n: int) -> np.ndarray:
    bars = rng.integers(0, N_CATEGORIES, size=(n, STEPS_PER_BAR))
    bars[: n // 3] = np.where(rng.random((n // 3, STEPS_PER_BAR)) < 0.7, REST, bars[: n // 3])  # sparse bars
    bars[0] = REST  # an all-rest bar (repetition 0)
    return bars


@pytest.fixture
def env(scorer, bands) -> TunerEnv:
    rng = np.random.default_rng(0)
    seeds = _bars(rng, 20)
    return TunerEnv(TuningProblem(scorer, bands, RewardConfig(), max_edits=4), seeds, seeds)


def test_passes_the_gymnasium_checker(env):
    check_env(env, skip_render_check=True)


def test_candidate_values_equal_recomputing_every_edit():
    bars = _bars(np.random.default_rng(1), 30)
    fast = candidate_values(bars, tuner_feature_values(bars))
    for step in range(STEPS_PER_BAR):
        for category in range(N_CATEGORIES):
            edited = bars.copy()
            edited[:, step] = category
            np.testing.assert_array_equal(fast[:, step, category], tuner_feature_values(edited))


def test_mask_rules_out_exactly_the_no_op_edits(scorer, bands, pattern_a):
    bar = pattern_a.categories()[None]
    problem = TuningProblem(
        scorer, bands, RewardConfig(), rules=EditRules(max_hands=4, max_added_parts=5, keep_anchors=False)
    )
    mask = problem.action_mask(problem.start(bar, bar, target_arrays(Targets(drum_density="low"), bands)))
    assert mask.shape == (1, N_ACTIONS) and mask[0, STOP]
    no_ops = np.flatnonzero(~mask[0])
    assert no_ops.tolist() == [t * N_CATEGORIES + c for t, c in enumerate(bar[0])]


def test_reset_is_seeded(env):
    first, _ = env.reset(seed=7)
    again, _ = env.reset(seed=7)
    other, _ = env.reset(seed=8)
    assert all(np.array_equal(first[k], again[k]) for k in first)
    assert not all(np.array_equal(first[k], other[k]) for k in first)


def test_stop_terminates_and_the_edit_budget_truncates(env):
    env.reset(seed=0)
    _, reward, terminated, truncated, _ = env.step(STOP)
    assert (reward, terminated, truncated) == (0.0, True, False)
    _, info = env.reset(seed=0)
    for edit in range(4):
        action = int(np.flatnonzero(info["action_mask"][:-1])[0])
        _, _, terminated, truncated, info = env.step(action)
        assert not terminated and truncated == (edit == 3)
    assert info["edits"] == 4


def test_return_depends_on_where_the_episode_ends_not_on_the_route(scorer, bands, pattern_a):
    """Two routes to the same bar earn the same return: the fee counts edited steps, not actions."""
    config = RewardConfig(closeness=0.2, edit_cost=0.05)
    problem = TuningProblem(scorer, bands, config, max_edits=8)
    targets = target_arrays(Targets(drum_density="high", syncopation="medium"), bands)
    start = pattern_a.categories()

    def run(actions: list[int]) -> tuple[float, np.ndarray]:
        batch = problem.start(start, start, targets)
        total = sum(float(problem.step(batch, np.array([a]))[0][0]) for a in actions)
        return total, batch.bar[0]

    ks = 11  # category "ks"
    direct, bar_direct = run([1 * N_CATEGORIES + ks, 3 * N_CATEGORIES + ks])
    detour, bar_detour = run([3 * N_CATEGORIES + 0, 1 * N_CATEGORIES + ks, 3 * N_CATEGORIES + ks])
    assert np.array_equal(bar_direct, bar_detour)
    assert detour == pytest.approx(direct)
    back, bar_back = run([3 * N_CATEGORIES + 0, 3 * N_CATEGORIES + int(start[3])])  # there and back: nothing
    assert np.array_equal(bar_back, start) and back == pytest.approx(0.0)


def test_estimated_log_likelihood_is_exact_for_independent_steps(scorer, bands, pattern_a, pattern_b):
    starts = np.stack([pattern_a.categories(), pattern_b.categories()])
    targets = target_arrays([Targets(drum_density="high")] * 2, bands)
    exact = TuningProblem(scorer, bands, RewardConfig(), exact_likelihood=True)
    estimated = TuningProblem(scorer, bands, RewardConfig(), exact_likelihood=False)
    batches = [p.start(starts[::-1], starts, targets) for p in (exact, estimated)]
    for problem, batch in zip((exact, estimated), batches, strict=True):
        problem.step(batch, np.array([5 * N_CATEGORIES + 4, 9 * N_CATEGORIES + 11]))
    np.testing.assert_allclose(batches[0].log_likelihood, batches[1].log_likelihood)
    np.testing.assert_allclose(batches[0].log_likelihood, scorer(starts[::-1], batches[0].bar))
