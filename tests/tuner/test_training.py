"""Double DQN training: it learns what greedy search cannot, and is reproducible for a seed."""

from __future__ import annotations

import itertools

import numpy as np
import torch

from jaki.tuner.agent import DQNConfig, QNetwork, TuningAgent
from jaki.tuner.reward import RewardConfig
from jaki.tuner.targets import Targets, target_arrays
from jaki.tuner.training import TrainingPool, train_agent

from .conftest import copy_scorer

SMALL = dict(width=32, layers=1, heads=2, action_width=32)


def _plan_problem(bands):
    """A task greedy search cannot solve: two edits are needed, and the first one alone only costs reward.

    Bar 2 copies the seed (7 cymbal steps); the model keeps a step with p 0.9, so each edit costs ≈ 5.6 nats × 0.2.
    Cymbal density must reach high (≥ 9): the first added cymbal earns 0.5 − 1.13 < 0, the second 0.5 + 4 − 1.13.
    """
    scorer = copy_scorer(0.9)
    bar = np.full(16, 22)
    bar[[0, 2, 4, 6, 8, 10, 12]] = 0  # closed hat
    targets = target_arrays(Targets(cymbal_density="high"), bands)
    return scorer, bar, targets, RewardConfig(closeness=0.2, met_bonus=4.0)


def _greedy_success(agent: TuningAgent, scorer, bar, targets) -> bool:
    problem = agent.problem(scorer)
    batch = problem.start(bar, bar, targets)
    agent.run_greedy(problem, batch)
    return bool(problem.met(batch)[0, 0])


def test_double_dqn_learns_a_two_step_plan_that_greedy_misses(bands):
    scorer, bar, targets, reward = _plan_problem(bands)
    config = DQNConfig(
        total_steps=200, n_envs=16, max_edits=6, learning_starts=10, batch_size=64, target_network_frequency=50, **SMALL
    )
    untrained = TuningAgent(QNetwork(config), config, reward, bands, {})
    assert not _greedy_success(untrained, scorer, bar, targets)  # untrained = greedy on the immediate reward
    pool = TrainingPool.build(scorer, bar[None], bar[None])
    trained = train_agent(scorer, pool, bands, config=config, reward=reward, targets=targets)
    assert _greedy_success(trained, scorer, bar, targets)


def test_training_is_reproducible_for_a_seed(scorer, bands, pattern_a, pattern_b):
    starts = np.stack([pattern_a.categories(), pattern_b.categories()])
    pool = TrainingPool.build(scorer, starts, starts)
    config = DQNConfig(total_steps=12, n_envs=4, learning_starts=4, batch_size=16, seed=5, **SMALL)
    first, again = (train_agent(scorer, pool, bands, config=config) for _ in range(2))
    for name, tensor in first.network.state_dict().items():
        torch.testing.assert_close(tensor, again.network.state_dict()[name], rtol=0, atol=0)
    other = train_agent(scorer, pool, bands, config=DQNConfig(**{**config.__dict__, "seed": 6}))
    assert not torch.equal(first.network.summary.weight, other.network.summary.weight)


def test_progress_comes_by_the_clock_as_well_as_by_steps(scorer, bands, pattern_a, pattern_b):
    """With a step count that never comes due, reports still arrive once progress_seconds have passed: every step
    for 0 s, only the first and the last for an hour."""
    starts = np.stack([pattern_a.categories(), pattern_b.categories()])
    pool = TrainingPool.build(scorer, starts, starts)
    config = DQNConfig(total_steps=6, n_envs=4, learning_starts=2, batch_size=16, **SMALL)
    by_clock, hourly = [], []
    train_agent(scorer, pool, bands, config=config, progress=by_clock.append, progress_every=10**9, progress_seconds=0)
    train_agent(scorer, pool, bands, config=config, progress=hourly.append, progress_every=10**9, progress_seconds=3600)
    assert [state.step for state in by_clock] == [1, 2, 3, 4, 5, 6]
    assert [state.step for state in hourly] == [1, 6]
    assert all(later.seconds >= earlier.seconds for earlier, later in itertools.pairwise(by_clock))
