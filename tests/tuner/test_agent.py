from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from jaki.errors import JakiInputError
from jaki.tuner.agent import DQNConfig, QNetwork, TuningAgent, load_agent
from jaki.tuner.reward import RewardConfig
from jaki.tuner.targets import Targets, target_arrays

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
        from jaki.tuner.agent import network_inputs

        inputs = network_inputs(problem, batch)
        every = agent.network(inputs)
        actions = torch.tensor([5, 512])
        chosen = agent.network(inputs, actions)
    assert every.shape == (2, 513)
    assert every[:, 512].tolist() == [0.0, 0.0]  # stopping is worth exactly 0
    torch.testing.assert_close(chosen, every[torch.arange(2), actions])


def test_save_then_load_gives_identical_q_values(tmp_path, scorer, bands, pattern_b):
    agent = _agent(bands, seed=3)
    agent.save(tmp_path / "agent")
    loaded = load_agent(tmp_path / "agent")
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
