"""The tuning problem as a gymnasium ``Env``: one episode at a time, a thin view over :mod:`jaki.tuner.problem`.

Observation: the seed bar, the current bar 2, which steps were edited, the targets, the feature values and their
distances to the bands, and the continuation model's per-step log-probabilities of the untuned bar
(:meth:`TuningProblem.observation`). Action ``a < 512`` sets step ``a // 32`` to category ``a % 32``; ``STOP`` (512)
ends the episode; ``info["action_mask"]`` holds the legal actions (:meth:`TuningProblem.action_mask`). Reward,
rules and masks are the problem's. Imported only by those who want gymnasium (jaki's own tuning never does).
"""

from __future__ import annotations

from typing import ClassVar

import gymnasium as gym
import numpy as np

from jaki.pattern import N_CATEGORIES, STEPS_PER_BAR
from jaki.tuner.problem import LOG_PROB_FLOOR, N_ACTIONS, RANGE_SPAN, TuningBatch, TuningProblem
from jaki.tuner.targets import N_FEATURES, NUMBER, sample_level_targets


def observation_space() -> gym.spaces.Dict:
    scale_max = float(np.max(RANGE_SPAN))
    return gym.spaces.Dict(
        {
            "seed": gym.spaces.MultiDiscrete(np.full(STEPS_PER_BAR, N_CATEGORIES)),
            "bar": gym.spaces.MultiDiscrete(np.full(STEPS_PER_BAR, N_CATEGORIES)),
            "edited": gym.spaces.MultiBinary(STEPS_PER_BAR),
            "targets": gym.spaces.Box(-1.0, 2.0, shape=(N_FEATURES, NUMBER + 4), dtype=np.float32),
            "features": gym.spaces.Box(0.0, scale_max, shape=(N_FEATURES, 2), dtype=np.float32),
            "step_log_probs": gym.spaces.Box(
                LOG_PROB_FLOOR, 0.0, shape=(STEPS_PER_BAR, N_CATEGORIES), dtype=np.float32
            ),
        }
    )


class TunerEnv(gym.Env):
    """One tuning episode at a time, over a pool of (seed bar, untuned bar 2) pairs and random level targets.

    ``reset(seed=…)`` seeds the draw of the pair and of the targets; ``options={"seed_bar", "bar", "targets"}``
    (category arrays and a one-row :class:`TargetArrays`, optionally ``"keep"``: a (5,) bool of kept parts) tunes a
    given pattern instead. ``info["action_mask"]`` and
    :meth:`action_masks` give the legal actions.
    """

    metadata: ClassVar[dict] = {"render_modes": []}

    def __init__(
        self,
        problem: TuningProblem,
        seed_bars: np.ndarray,
        bars: np.ndarray,
        *,
        number_share: float = 0.1,
    ) -> None:
        self.problem = problem
        self.seed_bars = np.asarray(seed_bars, dtype=np.int64)
        self.bars = np.asarray(bars, dtype=np.int64)
        self.number_share = number_share
        self.observation_space = observation_space()
        self.action_space = gym.spaces.Discrete(N_ACTIONS)
        self._batch: TuningBatch | None = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = options or {}
        keep = options.get("keep")
        if "bar" in options:
            seed_bar, bar, targets = options["seed_bar"], options["bar"], options["targets"]
        else:
            index = int(self.np_random.integers(len(self.bars)))
            seed_bar, bar = self.seed_bars[index], self.bars[index]
            targets = sample_level_targets(self.np_random, 1, self.problem.bands, self.number_share)
        self._batch = self.problem.start(seed_bar, bar, targets, keep=keep)
        return self._observation(), self._info()

    def step(self, action: int):
        rewards, terminated, truncated = self.problem.step(self._batch, np.array([action]))
        return self._observation(), float(rewards[0]), bool(terminated[0]), bool(truncated[0]), self._info()

    def action_masks(self) -> np.ndarray:
        return self.problem.action_mask(self._batch)[0]

    def _observation(self) -> dict[str, np.ndarray]:
        return {key: value[0] for key, value in self.problem.observation(self._batch).items()}

    def _info(self) -> dict:
        batch = self._batch
        return {
            "action_mask": self.action_masks(),
            "values": batch.values[0].copy(),
            "met": self.problem.met(batch)[0],
            "log_likelihood": float(batch.log_likelihood[0]),
            "edits": int(batch.edits[0]),
        }
