"""The tuning environment: edit bar 2 one step at a time toward the requested bands, staying likely.

State: the seed bar, the current bar 2, the targets and the current feature values, plus the continuation model's
per-step log-probabilities of the *untuned* bar (read once per pattern: the agent's view of which edits the
model finds likely, at the cost of one forward pass). Action ``a < 512`` sets step ``a // 32`` to category
``a % 32``; action ``STOP`` (512) ends the episode. Reward: :mod:`jaki.tuner.reward`.

Masks: an edit that sets a step to the category it already holds is a no-op and is masked, and so is every edit of
a step that was already edited in this episode. That loses nothing: the return depends only on the final bar and
the number of edits, and any final bar is reached by editing each differing step once; it rules out edit-and-undo
cycles (which a bootstrapped Q-function can otherwise overvalue) and bounds an episode at 16 edits. The physically
impossible combinations of the original (FEATURES.md §3.8: every closed+open cymbal pair, kso, ksot, sot, even
rests) are *not* excluded: in our 5-part fold "closed" includes the ride and "open" the crash, and ride + crash
on one step is ordinary drumming (it occurs in the Groove MIDI Dataset's second bars); every category is playable.
"stop" is always allowed. Episodes end on "stop" (termination) or after ``max_edits`` edits (truncation).

:class:`TuningProblem` runs B episodes at once on numpy arrays (the agent trains and tunes through it);
:class:`TunerEnv` is the same thing as a single gymnasium ``Env`` for the outside world.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import gymnasium as gym
import numpy as np

from jaki.features import (
    CATEGORY_CYMBAL,
    CATEGORY_DRUM_HITS,
    FEATURE_RANGES,
    SYNCOPATION_GAIN_AFTER_NEXT,
    SYNCOPATION_GAIN_NEXT,
    TUNER_FEATURES,
    FeatureBands,
    tuner_feature_values,
)
from jaki.pattern import CATEGORY_PARTS, N_CATEGORIES, REST, STEPS_PER_BAR
from jaki.tuner.reward import (
    RewardConfig,
    band_distances,
    distance_scales,
    potential,
    requests_met,
    step_reward,
)
from jaki.tuner.scorer import Scorer
from jaki.tuner.targets import N_FEATURES, NUMBER, SKIP, TargetArrays, sample_level_targets

N_EDITS = STEPS_PER_BAR * N_CATEGORIES
STOP = N_EDITS
N_ACTIONS = N_EDITS + 1
LOG_PROB_FLOOR = -30.0  # per-step log-probabilities are clipped here in observations

_RANGE_LO = np.array([FEATURE_RANGES[f][0] for f in TUNER_FEATURES])
_RANGE_SPAN = np.array([FEATURE_RANGES[f][1] - FEATURE_RANGES[f][0] for f in TUNER_FEATURES])

# Per-category tables behind the incremental feature update: features.py's own tables, as floats.
_BITS = CATEGORY_PARTS.astype(np.float64)  # (32, 5)
_CYMBAL = CATEGORY_CYMBAL.astype(np.float64)
_DRUMS = CATEGORY_DRUM_HITS.astype(np.float64)
_SOUNDING = (np.arange(N_CATEGORIES) != REST).astype(np.float64)
_GAIN_1, _GAIN_2 = SYNCOPATION_GAIN_NEXT, SYNCOPATION_GAIN_AFTER_NEXT


def _hit_score(step: np.ndarray, next_hit: np.ndarray, after_next_hit: np.ndarray) -> np.ndarray:
    """Syncopation a hit at ``step`` earns given its two following cells (FEATURES.md §2.1, one part)."""
    gain_1, gain_2 = _GAIN_1[step], _GAIN_2[step]
    return np.where(~next_hit & (gain_1 > 0), gain_1, np.where(~after_next_hit, gain_2, 0))


def candidate_values(bars: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Feature values after every single edit: bars (B, 16), their values (B, 4) → (B, 16, 32, 4).

    Incremental (only the cells an edit touches are recomputed), so that scoring all 512 edits costs about as much
    as one feature evaluation of 16 bars; tests check it against :func:`tuner_feature_values` on every edit.
    """
    bars = np.asarray(bars, dtype=np.int64)
    steps = np.arange(STEPS_PER_BAR)
    hits = CATEGORY_PARTS[bars]  # (B, 16, 5)
    out = np.empty((*bars.shape, N_CATEGORIES, N_FEATURES))
    current = bars[..., None]  # (B, 16, 1)
    out[..., 0] = values[:, None, None, 0] - _CYMBAL[current] + _CYMBAL
    out[..., 1] = values[:, None, None, 1] - _DRUMS[current] + _DRUMS

    # Syncopation: an edit at t changes the scores of the hits at t, t-1 and t-2 (each part separately).
    prev1, prev2 = (steps - 1) % STEPS_PER_BAR, (steps - 2) % STEPS_PER_BAR
    next1, next2 = (steps + 1) % STEPS_PER_BAR, (steps + 2) % STEPS_PER_BAR
    local = []
    for bit in (False, True):
        b = np.full(hits.shape, bit)
        own = b * _hit_score(steps[:, None], hits[:, next1], hits[:, next2])
        before = hits[:, prev1] * _hit_score(prev1[:, None], b, hits[:, next1])
        before2 = hits[:, prev2] * _hit_score(prev2[:, None], hits[:, prev1], b)
        local.append(own + before + before2)  # (B, 16, 5)
    off, on = local
    now = np.where(hits, on, off).sum(axis=-1)  # (B, 16)
    after = off @ (1 - _BITS).T + on @ _BITS.T  # (B, 16, 32)
    out[..., 2] = values[:, None, None, 2] + after - now[..., None]

    # Repetition: an edit at t changes only the pair (t, t ± 8) and the count of sounding steps.
    partner = bars[:, (steps + STEPS_PER_BAR // 2) % STEPS_PER_BAR]  # (B, 16)
    sounding = _SOUNDING[bars].sum(axis=-1)  # (B,)
    matches = (
        (bars[:, : STEPS_PER_BAR // 2] == partner[:, : STEPS_PER_BAR // 2]) & (bars[:, : STEPS_PER_BAR // 2] != REST)
    ).sum(-1)
    old_match = (bars == partner) & (bars != REST)  # (B, 16)
    new_match = (np.arange(N_CATEGORIES) == partner[..., None]) & (np.arange(N_CATEGORIES) != REST)  # (B, 16, 32)
    new_matches = matches[:, None, None] - old_match[..., None] + new_match
    new_sounding = sounding[:, None, None] - _SOUNDING[current] + _SOUNDING
    out[..., 3] = np.divide(2.0 * new_matches, new_sounding, out=np.zeros(new_sounding.shape), where=new_sounding > 0)
    return out


def static_log_likelihood(step_log_probs: np.ndarray, bars: np.ndarray) -> np.ndarray:
    """Σ_t log p(step t = bar_t) read from per-step log-probabilities (B, 16, 32) → (B,)."""
    return np.take_along_axis(step_log_probs, bars[..., None], axis=-1)[..., 0].sum(axis=-1, dtype=np.float64)


def action_mask(bars: np.ndarray, starts: np.ndarray | None = None) -> np.ndarray:
    """(B, 513) bool: every edit except the no-ops and (given the untuned ``starts``) edits of edited steps; stop."""
    bars = np.asarray(bars, dtype=np.int64)
    mask = np.ones((len(bars), N_ACTIONS), dtype=bool)
    edits = mask[:, :N_EDITS].reshape(len(bars), STEPS_PER_BAR, N_CATEGORIES)
    edits[np.arange(len(bars))[:, None], np.arange(STEPS_PER_BAR), bars] = False
    if starts is not None:
        edits[bars != starts] = False
    return mask


@dataclass
class TuningBatch:
    """B tuning episodes in flight (arrays are updated in place by :meth:`TuningProblem.step`)."""

    seed: np.ndarray  # (B, 16) seed bars
    bar: np.ndarray  # (B, 16) current bar 2
    start: np.ndarray  # (B, 16) the untuned bar 2
    targets: TargetArrays  # (B, 4) bands
    step_log_probs: np.ndarray  # (B, 16, 32) float32: the model's view of the untuned bar
    values: np.ndarray  # (B, 4) current feature values
    log_likelihood: np.ndarray  # (B,) of the current bar
    start_log_likelihood: np.ndarray  # (B,) of the untuned bar
    potential: np.ndarray  # (B,) Φ of the current bar
    edits: np.ndarray  # (B,) edits made so far

    ARRAYS: ClassVar[tuple[str, ...]] = (
        "seed",
        "bar",
        "start",
        "step_log_probs",
        "values",
        "log_likelihood",
        "start_log_likelihood",
        "potential",
        "edits",
    )

    def __len__(self) -> int:
        return len(self.bar)

    def replace_rows(self, rows: np.ndarray, fresh: TuningBatch) -> None:
        """Put ``fresh``'s episodes (targets included) in place of ``rows``, e.g. episodes that just ended."""
        for name in self.ARRAYS:
            getattr(self, name)[rows] = getattr(fresh, name)
        for name in ("kind", "lo", "hi"):
            getattr(self.targets, name)[rows] = getattr(fresh.targets, name)

    @classmethod
    def concat(cls, batches: list[TuningBatch]) -> TuningBatch:
        return cls(
            targets=TargetArrays.concat([batch.targets for batch in batches]),
            **{name: np.concatenate([getattr(batch, name) for batch in batches]) for name in cls.ARRAYS},
        )


class TuningProblem:
    """Scorer + reward + bands: starts, masks and steps batches of episodes."""

    def __init__(
        self,
        scorer: Scorer,
        bands: FeatureBands,
        reward: RewardConfig,
        max_edits: int = 16,
        *,
        exact_likelihood: bool = True,
    ) -> None:
        self.scorer = scorer
        self.bands = bands
        self.reward = reward
        self.scales = distance_scales(bands)
        self.max_edits = max_edits
        # False: between edits, log p is estimated from the untuned bar's per-step log-probabilities (no model call;
        # exact for a scorer with independent steps). Tuning uses it for speed and scores the final bar exactly.
        self.exact_likelihood = exact_likelihood

    def start(
        self, seed: np.ndarray, bars: np.ndarray, targets: TargetArrays, step_log_probs: np.ndarray | None = None
    ) -> TuningBatch:
        """Start episodes from untuned bars; pass ``step_log_probs`` when they are already known (saves a forward)."""
        seed = np.array(seed, dtype=np.int64).reshape(-1, STEPS_PER_BAR)
        bars = np.array(bars, dtype=np.int64).reshape(-1, STEPS_PER_BAR)
        log_probs = self.scorer.step_log_probs(seed, bars) if step_log_probs is None else step_log_probs
        likelihood = static_log_likelihood(log_probs, bars)
        values = tuner_feature_values(bars)
        return TuningBatch(
            seed=seed,
            bar=bars.copy(),
            start=bars.copy(),
            targets=targets,
            step_log_probs=np.maximum(log_probs, LOG_PROB_FLOOR).astype(np.float32),
            values=values,
            log_likelihood=likelihood,
            start_log_likelihood=likelihood.copy(),
            potential=potential(values, likelihood, likelihood, targets, self.scales, self.reward),
            edits=np.zeros(len(bars), dtype=np.int64),
        )

    def step(self, batch: TuningBatch, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Apply one action per episode → (reward, terminated, truncated), each (B,). Stop leaves the bar as is."""
        actions = np.asarray(actions, dtype=np.int64)
        edit = actions != STOP
        rows = np.flatnonzero(edit)
        rewards = np.zeros(len(batch))
        if rows.size:
            batch.bar[rows, actions[rows] // N_CATEGORIES] = actions[rows] % N_CATEGORIES
            before = batch.potential[rows]
            self.refresh(batch, rows, self.log_likelihood(batch, rows))
            rewards[rows] = step_reward(before, batch.potential[rows], np.ones(rows.size), self.reward)
            batch.edits[rows] += 1
        truncated = edit & (batch.edits >= self.max_edits)
        return rewards, ~edit, truncated

    def refresh(self, batch: TuningBatch, rows: np.ndarray, log_likelihood: np.ndarray) -> None:
        """After the bars of ``rows`` changed: store their log p and recompute their feature values and potential."""
        batch.values[rows] = tuner_feature_values(batch.bar[rows])
        batch.log_likelihood[rows] = log_likelihood
        batch.potential[rows] = potential(
            batch.values[rows],
            batch.log_likelihood[rows],
            batch.start_log_likelihood[rows],
            batch.targets.take(rows),
            self.scales,
            self.reward,
        )

    def log_likelihood(self, batch: TuningBatch, rows: np.ndarray) -> np.ndarray:
        """log p of the current bars of ``rows``: from the scorer, or estimated (see ``exact_likelihood``)."""
        if self.exact_likelihood:
            return self.scorer(batch.seed[rows], batch.bar[rows])
        return static_log_likelihood(batch.step_log_probs[rows], batch.bar[rows])

    def met(self, batch: TuningBatch) -> np.ndarray:
        """(B, 4) bool: requested and inside the band."""
        return requests_met(batch.values, batch.targets)

    def observation(self, batch: TuningBatch) -> dict[str, np.ndarray]:
        """The observation of every episode (arrays with a leading B axis), as :class:`TunerEnv` returns it."""
        targets = batch.targets
        kind = np.where(targets.kind == SKIP, 0, targets.kind + 1)  # skip, low, medium, high, number
        one_hot = np.eye(NUMBER + 2, dtype=np.float32)[kind]  # (B, 4, 5)
        lo = np.where(targets.requested, (targets.lo - _RANGE_LO) / _RANGE_SPAN, 0.0)
        hi = np.where(targets.requested, (targets.hi - _RANGE_LO) / _RANGE_SPAN, 0.0)
        distances = np.where(targets.requested, band_distances(batch.values, targets.lo, targets.hi) / self.scales, 0.0)
        return {
            "seed": batch.seed.copy(),
            "bar": batch.bar.copy(),
            "edited": (batch.bar != batch.start).astype(np.int8),
            "targets": np.concatenate([one_hot, lo[..., None], hi[..., None]], axis=-1).astype(np.float32),
            "features": np.stack([(batch.values - _RANGE_LO) / _RANGE_SPAN, distances], axis=-1).astype(np.float32),
            "step_log_probs": batch.step_log_probs.copy(),
        }


def observation_space() -> gym.spaces.Dict:
    scale_max = float(np.max(_RANGE_SPAN))
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
    (category arrays and a one-row :class:`TargetArrays`) tunes a given pattern instead. ``info["action_mask"]`` and
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
        if "bar" in options:
            seed_bar, bar, targets = options["seed_bar"], options["bar"], options["targets"]
        else:
            index = int(self.np_random.integers(len(self.bars)))
            seed_bar, bar = self.seed_bars[index], self.bars[index]
            targets = sample_level_targets(self.np_random, 1, self.problem.bands, self.number_share)
        self._batch = self.problem.start(seed_bar, bar, targets)
        return self._observation(), self._info()

    def step(self, action: int):
        rewards, terminated, truncated = self.problem.step(self._batch, np.array([action]))
        return self._observation(), float(rewards[0]), bool(terminated[0]), bool(truncated[0]), self._info()

    def action_masks(self) -> np.ndarray:
        return action_mask(self._batch.bar, self._batch.start)[0]

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
