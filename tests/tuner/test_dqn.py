"""The Double DQN: the Q-network reads the edit table, the agent saves and loads like the model, and training learns
what greedy search cannot, reproducibly for a seed."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch

from jaki.errors import JakiInputError
from jaki.tuner.dqn import GAIN, DQNConfig, QNetwork, TrainingPool, TuningAgent, load_agent, network_inputs, train_agent
from jaki.tuner.methods import agent_episode
from jaki.tuner.problem import RewardConfig, TuningProblem
from jaki.tuner.targets import Targets, target_arrays

from .conftest import copy_scorer

SMALL = dict(width=32, layers=1, heads=2, action_width=32)


def _agent(bands, seed: int = 0) -> TuningAgent:
    config = DQNConfig(seed=seed, **SMALL)
    torch.manual_seed(seed)
    return TuningAgent(QNetwork(config), config, RewardConfig(), bands, {"note": "untrained"})


def test_q_network_scores_all_actions_and_chosen_actions_alike(scorer, bands, pattern_a, pattern_b):
    agent = _agent(bands)
    problem = agent.problem(scorer)
    starts = np.stack([pattern_a.categories(), pattern_b.categories()])
    batch = problem.start(starts, starts, target_arrays([Targets(drum_density="high")] * 2, bands))
    with torch.no_grad():
        inputs = network_inputs(problem, batch)
        every = agent.network(inputs)
        actions = torch.tensor([5, 512])
        chosen = agent.network(inputs, actions)
    assert every.shape == (2, 513)
    assert every[:, 512].tolist() == [0.0, 0.0]  # stopping is worth exactly 0
    torch.testing.assert_close(chosen, every[torch.arange(2), actions])


def test_q_network_on_legal_edits_only_gives_the_same_q_values(scorer, bands, pattern_a, pattern_b):
    agent = _agent(bands)
    torch.nn.init.normal_(agent.network.head[-1].weight)  # a trained-like correction, not the zero start
    problem = agent.problem(scorer)
    starts = np.stack([pattern_a.categories(), pattern_b.categories()])
    batch = problem.start(starts, starts, target_arrays([Targets(drum_density="high")] * 2, bands))
    table = problem.edit_table(batch)
    with torch.no_grad():
        inputs = network_inputs(problem, batch, table)
        every, legal_only = agent.network(inputs), agent.network(inputs, legal=table.legal)
    legal = torch.as_tensor(problem.action_mask(batch))
    assert 0 < int(legal.sum()) < legal.numel()
    torch.testing.assert_close(legal_only[legal], every[legal])
    assert bool((legal_only[~legal] == -torch.inf).all())
    assert legal_only[:, 512].tolist() == [0.0, 0.0]


def test_save_then_load_gives_identical_q_values(tmp_path, scorer, bands, pattern_b):
    agent = _agent(bands, seed=3)
    agent.save(tmp_path / "agent")
    loaded = load_agent(tmp_path / "agent")
    modes = {path.name: path.stat().st_mode & 0o777 for path in (tmp_path / "agent").iterdir()}
    assert modes["agent.safetensors"] == modes["agent.json"]  # the model's writer: not safetensors' owner-only file
    assert loaded.config == agent.config and loaded.reward == agent.reward and loaded.bands == bands
    assert loaded.metadata == {"note": "untrained"}
    problem = agent.problem(scorer)
    start = pattern_b.categories()
    batch = problem.start(start, start, target_arrays(Targets(syncopation="high", repetition="low"), bands))
    torch.testing.assert_close(agent.q_values(problem, batch), loaded.q_values(problem, batch), rtol=0, atol=0)
    with pytest.raises(JakiInputError, match="exists"):
        agent.save(tmp_path / "agent")
    # One of the two files already there: refused before the other one is written.
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "agent.json").write_text("{}")
    with pytest.raises(JakiInputError, match=r"agent\.json: exists"):
        agent.save(tmp_path / "half")
    assert [p.name for p in (tmp_path / "half").iterdir()] == ["agent.json"]


def test_loading_a_folder_without_an_agent_is_an_input_error(tmp_path):
    with pytest.raises(JakiInputError, match="not an agent folder"):
        load_agent(tmp_path)


def _edit_agent_config(directory, section: str | None, **changes) -> None:
    document = json.loads((directory / "agent.json").read_text())
    (document[section] if section else document).update(changes)
    (directory / "agent.json").write_text(json.dumps(document))


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: (d / "agent.json").write_text("{not json"), "not JSON"),
        (lambda d: _edit_agent_config(d, None, format_version=7), "not a format-1 agent config"),
        (lambda d: _edit_agent_config(d, "dqn", layers_of_fun=3), "'dqn' must be an object with keys from"),
        (lambda d: _edit_agent_config(d, "dqn", width="big"), "bad agent config"),
        (lambda d: _edit_agent_config(d, "dqn", width=48), r"do not fit the config \(Error\(s\) in loading.*size"),
        (lambda d: (d / "agent.safetensors").write_bytes(b"\x00" * 40), "not a readable safetensors"),
    ],
)
def test_bad_agent_folders_raise_one_line_errors(tmp_path, bands, damage, message: str):
    _agent(bands, seed=3).save(tmp_path / "agent")
    damage(tmp_path / "agent")
    with pytest.raises(JakiInputError, match=message) as error:
        load_agent(tmp_path / "agent")
    assert "\n" not in str(error.value)


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
    agent_episode(agent, problem, batch)
    return bool(problem.met(batch)[0, 0])


def test_double_dqn_learns_a_two_step_plan_that_greedy_misses(bands):
    scorer, bar, targets, reward = _plan_problem(bands)
    # 400 steps: with one part added per step, 2 of a rest step's 5 edits add a cymbal (it learned in 6 of 6 seeds).
    config = DQNConfig(
        total_steps=400, n_envs=16, max_edits=6, learning_starts=10, batch_size=64, target_network_frequency=50, **SMALL
    )
    untrained = TuningAgent(QNetwork(config), config, reward, bands, {})
    assert not _greedy_success(untrained, scorer, bar, targets)  # untrained = greedy on the immediate reward
    pool = TrainingPool.build(TuningProblem(scorer, bands, reward), bar[None], bar[None])
    trained = train_agent(scorer, pool, bands, config=config, reward=reward, targets=targets)
    assert _greedy_success(trained, scorer, bar, targets)


def test_training_is_reproducible_for_a_seed(scorer, bands, pattern_a, pattern_b):
    starts = np.stack([pattern_a.categories(), pattern_b.categories()])
    pool = TrainingPool.build(TuningProblem(scorer, bands, RewardConfig()), starts, starts)
    config = DQNConfig(total_steps=12, n_envs=4, learning_starts=4, batch_size=16, seed=5, **SMALL)
    first, again = (train_agent(scorer, pool, bands, config=config) for _ in range(2))
    for name, tensor in first.network.state_dict().items():
        torch.testing.assert_close(tensor, again.network.state_dict()[name], rtol=0, atol=0)
    other = train_agent(scorer, pool, bands, config=DQNConfig(**{**config.__dict__, "seed": 6}))
    assert not torch.equal(first.network.summary.weight, other.network.summary.weight)


def test_the_network_reads_the_edit_tables_gain(scorer, bands, pattern_a, pattern_b):
    """The agent's estimate of each edit is the problem's reward estimate (the untrained network adds nothing)."""
    agent = _agent(bands)
    problem = agent.problem(scorer)
    starts = np.stack([pattern_a.categories(), pattern_b.categories()])
    batch = problem.start(starts, starts, target_arrays([Targets(drum_density="high", repetition="low")] * 2, bands))
    inputs = network_inputs(problem, batch)
    table = problem.edit_table(batch)
    np.testing.assert_allclose(inputs["edits"][..., GAIN].numpy(), table.gain, atol=1e-6)
    with torch.no_grad():
        np.testing.assert_allclose(agent.network(inputs)[:, :-1].numpy(), table.flat("gain"), atol=1e-6)


def test_progress_comes_by_the_clock_as_well_as_by_steps(scorer, bands, pattern_a, pattern_b):
    """With a step count that never comes due, reports still arrive once progress_seconds have passed: every step
    for 0 s, only the first and the last for an hour."""
    starts = np.stack([pattern_a.categories(), pattern_b.categories()])
    pool = TrainingPool.build(TuningProblem(scorer, bands, RewardConfig()), starts, starts)
    config = DQNConfig(total_steps=6, n_envs=4, learning_starts=2, batch_size=16, **SMALL)
    by_clock, hourly = [], []
    train_agent(scorer, pool, bands, config=config, progress=by_clock.append, progress_every=10**9, progress_seconds=0)
    train_agent(scorer, pool, bands, config=config, progress=hourly.append, progress_every=10**9, progress_seconds=3600)
    assert [state.step for state in by_clock] == [1, 2, 3, 4, 5, 6]
    assert [state.step for state in hourly] == [1, 6]
    assert all(later.seconds >= earlier.seconds for earlier, later in itertools.pairwise(by_clock))
