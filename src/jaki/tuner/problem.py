"""The tuning problem, in one place: what an edit is, which edits are allowed, what they are worth, and "met".

For a bar 2 ``x`` tuned after a seed bar ``s``, with feature values ``v_f(x)`` and requested bands ``[lo_f, hi_f]``::

    Φ(x) = Σ_{f requested} −( d_f(x) / scale_f + met_bonus · [d_f(x) > 0] )  +  closeness · (log p(x | s) − log p(x₀ | s))

    reward(x → x') = Φ(x') − Φ(x) − edit_cost · (edited steps of x' − edited steps of x)

* ``d_f`` is the distance of the value to its band, 0 inside (the one "met" rule: :func:`jaki.features.band_distances`,
  used by :func:`requests_met` and everything that prints or stores "met"). ``scale_f`` is the width of the feature's
  medium band (at least 1/48 of its range), so one band-width of distance weighs the same for every feature.
* ``met_bonus`` pays once for landing inside a band: without it the last unit of distance could be worth less than
  the log-likelihood an edit costs, and the tuner would stop just short of the band.
* ``closeness`` weighs the continuation model's log-likelihood (nats), as RL Tuner's 1/c; ``x₀`` is the untuned
  continuation. 0 gives the ablation without the model.
* The fee counts edited steps (steps that differ from ``x₀``): an episode's return is Φ(end) − Φ(start) −
  edit_cost · edited steps, whatever route it took; setting a step back to its untuned category refunds its fee.

An action ``a < 512`` sets step ``a // 32`` to category ``a % 32``; ``STOP`` (512) ends the episode. Which edits are
allowed (:func:`allowed_categories`, from :class:`EditRules` and the parts the user keeps): a tuned step holds at most
``max_hands`` of snare / closed / open / toms (two hands; the kick is the foot) and adds at most ``max_added_parts``
(one) part to the untuned bar's step, unless it is the untuned bar's own step; kept parts never change; with
``keep_anchors`` the untuned bar's kick on beat 1 and snares on the backbeat stay. On top of that an agent's episode edits each step at most once (the return depends only on the final bar, and
it rules out edit-and-undo cycles), and a no-op edit is never legal.

:class:`EditTable` holds all 512 edits of a batch with their consequences; every way to tune
(:mod:`jaki.tuner.methods`) and the agent's Q-network (:mod:`jaki.tuner.dqn`) read it, and :func:`edit_reward` is
the only place the reward is assembled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import numpy as np

from jaki.errors import JakiInputError
from jaki.features import (
    CATEGORY_CYMBAL,
    CATEGORY_DRUM_HITS,
    FEATURE_RANGES,
    SYNCOPATION_GAIN_AFTER_NEXT,
    SYNCOPATION_GAIN_NEXT,
    TUNER_FEATURES,
    FeatureBands,
    band_distances,
    tuner_feature_values,
)
from jaki.pattern import CATEGORY_PARTS, N_CATEGORIES, N_PARTS, PARTS, REST, STEPS_PER_BAR
from jaki.tuner.scorer import Scorer
from jaki.tuner.targets import N_FEATURES, NUMBER, SKIP, TargetArrays

N_EDITS = STEPS_PER_BAR * N_CATEGORIES
STOP = N_EDITS
N_ACTIONS = N_EDITS + 1
LOG_PROB_FLOOR = -30.0  # per-step log-probabilities are clipped here in observations

HAND_PARTS = CATEGORY_PARTS[:, 1:].sum(axis=1)  # (32,) of snare / closed / open / toms: the parts played by hand
# (step, part) of the anchors: the kick on beat 1 and the backbeat snares on beats 2 and 4.
ANCHORS: tuple[tuple[int, int], ...] = ((0, PARTS.index("kick")), (4, PARTS.index("snare")), (12, PARTS.index("snare")))

RANGE_LO = np.array([FEATURE_RANGES[f][0] for f in TUNER_FEATURES])
RANGE_SPAN = np.array([FEATURE_RANGES[f][1] - FEATURE_RANGES[f][0] for f in TUNER_FEATURES])

# Per-category tables behind the incremental feature update: features.py's own tables, as floats.
_BITS = CATEGORY_PARTS.astype(np.float64)  # (32, 5)
_CYMBAL = CATEGORY_CYMBAL.astype(np.float64)
_DRUMS = CATEGORY_DRUM_HITS.astype(np.float64)
_SOUNDING = (np.arange(N_CATEGORIES) != REST).astype(np.float64)
_GAIN_1, _GAIN_2 = SYNCOPATION_GAIN_NEXT, SYNCOPATION_GAIN_AFTER_NEXT


# --- settings -----------------------------------------------------------------------------------------------------
@dataclass
class RewardConfig:
    """Weights of the tuner's potential (see the module docstring)."""

    closeness: float = 0.1  # weight of the continuation's log-likelihood, per nat (RL Tuner's 1/c); 0 = ablation
    met_bonus: float = 1.0  # potential for each requested feature that lies inside its band
    edit_cost: float = (
        0.02  # charged for every edited step, so that edits that change nothing worth having are not made
    )


@dataclass(frozen=True)
class EditRules:
    """Which bars the tuner may propose: edits a drummer could play, anchors kept."""

    max_hands: int = 2  # most of snare / closed / open / toms on a tuned step (unless the untuned bar had that step)
    max_added_parts: int = 1  # most parts one tuned step adds to the untuned bar's step: one, so that no unisons are
    # stacked up to reach a feature (with five, half the edited steps for drum density or syncopation high added two
    # or more parts, and the tuned bars were 0.96-1.11 nats less likely under both models)
    keep_anchors: bool = True  # the untuned bar's kick on beat 1 and backbeat snares are never removed


def keep_mask(keep: Sequence[str] | np.ndarray | None, n: int) -> np.ndarray:
    """(n, 5) bool of the parts tuning must not change, from part names (``("kick", "snare")``) or a (5,) / (n, 5)
    bool array."""
    if keep is None:
        return np.zeros((n, N_PARTS), dtype=bool)
    if isinstance(keep, np.ndarray) and keep.dtype == bool:
        return np.broadcast_to(keep, (n, N_PARTS)).copy()
    names = [keep] if isinstance(keep, str) else list(keep)
    unknown = [name for name in names if name not in PARTS]
    if unknown:
        raise JakiInputError(f"keep: unknown part(s) {', '.join(map(str, unknown))} (expected {', '.join(PARTS)})")
    return np.broadcast_to(np.isin(PARTS, names), (n, N_PARTS)).copy()


def allowed_categories(start: np.ndarray, keep: np.ndarray, rules: EditRules) -> np.ndarray:
    """(B, 16, 32) bool: categories a tuned step may hold, whatever the route (the untuned one always)."""
    start_hits = CATEGORY_PARTS[start]  # (B, 16, 5)
    locked = np.broadcast_to(keep[:, None, :], start_hits.shape).copy()
    if rules.keep_anchors:
        for step, part in ANCHORS:
            locked[:, step, part] |= start_hits[:, step, part]
    changes = CATEGORY_PARTS[None, None] != start_hits[:, :, None, :]  # (B, 16, 32, 5)
    fits = ~(changes & locked[:, :, None, :]).any(axis=-1)
    added = (changes & ~start_hits[:, :, None, :]).sum(axis=-1)  # (B, 16, 32) parts each category adds
    playable = (rules.max_hands >= HAND_PARTS) & (added <= rules.max_added_parts)
    return fits & (playable | (np.arange(N_CATEGORIES) == start[..., None]))


# --- the potential and the met rule ---------------------------------------------------------------------------------
def distance_scales(bands: FeatureBands) -> np.ndarray:
    """(4,) width of each feature's medium band, at least 1/48 of the feature's range (one drum hit)."""
    scales = []
    for feature in TUNER_FEATURES:
        lo, hi = FEATURE_RANGES[feature]
        medium = bands[feature]["medium"]
        scales.append(max(medium.hi - medium.lo, (hi - lo) / 48))
    return np.array(scales)


def feature_potential(
    values: np.ndarray, targets: TargetArrays, scales: np.ndarray, config: RewardConfig
) -> np.ndarray:
    """The feature part of Φ, (...,): ``values`` (..., 4) against ``targets`` broadcast on the leading axes."""
    return distance_potential(band_distances(values, targets.lo, targets.hi), targets.requested, scales, config)


def distance_potential(
    distance: np.ndarray, requested: np.ndarray, scales: np.ndarray, config: RewardConfig
) -> np.ndarray:
    """The feature part of Φ from each feature's distance to its band (..., 4) (:func:`band_distances`)."""
    weight = np.where(requested, 1.0 / scales, 0.0)
    bonus = np.where(requested, config.met_bonus, 0.0)
    # einsum contracts the short feature axis several times faster than a masked sum over it.
    return -(np.einsum("...f,...f->...", distance, weight) + np.einsum("...f,...f->...", distance > 0, bonus))


def potential(
    values: np.ndarray,
    log_likelihood: np.ndarray,
    reference_log_likelihood: np.ndarray,
    targets: TargetArrays,
    scales: np.ndarray,
    config: RewardConfig,
) -> np.ndarray:
    """Φ of each bar, (B,): feature part plus ``closeness`` × log-likelihood relative to the untuned bar."""
    return feature_potential(values, targets, scales, config) + config.closeness * (
        log_likelihood - reference_log_likelihood
    )


def edit_reward(
    feature_gain: np.ndarray, log_likelihood_change: np.ndarray, edited_change: np.ndarray, config: RewardConfig
) -> np.ndarray:
    """The reward, assembled here and nowhere else: change of Φ's feature part + closeness × change of log p −
    edit_cost × change of the number of edited steps."""
    return feature_gain + config.closeness * log_likelihood_change - config.edit_cost * edited_change


def requests_met(values: np.ndarray, targets: TargetArrays) -> np.ndarray:
    """(B, 4) bool: the feature is requested and its value lies inside the band (the one "met" rule)."""
    return targets.requested & (band_distances(values, targets.lo, targets.hi) == 0)


def action_mask(legal: np.ndarray) -> np.ndarray:
    """(B, 16, 32) legal edits → (B, 513) bool legal actions: the edits, and stop (always legal)."""
    return np.concatenate([legal.reshape(len(legal), N_EDITS), np.ones((len(legal), 1), bool)], axis=1)


# --- features after every edit ----------------------------------------------------------------------------------------
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
    half = STEPS_PER_BAR // 2
    matches = ((bars[:, :half] == partner[:, :half]) & (bars[:, :half] != REST)).sum(-1)
    old_match = (bars == partner) & (bars != REST)  # (B, 16)
    new_match = (np.arange(N_CATEGORIES) == partner[..., None]) & (np.arange(N_CATEGORIES) != REST)  # (B, 16, 32)
    new_matches = matches[:, None, None] - old_match[..., None] + new_match
    new_sounding = sounding[:, None, None] - _SOUNDING[current] + _SOUNDING
    out[..., 3] = np.divide(2.0 * new_matches, new_sounding, out=np.zeros(new_sounding.shape), where=new_sounding > 0)
    return out


def clipped_view(step_log_probs: np.ndarray) -> np.ndarray:
    """Per-step log-probabilities as episodes hold them: float32, clipped at ``LOG_PROB_FLOOR``."""
    return np.maximum(step_log_probs, LOG_PROB_FLOOR).astype(np.float32)


def static_log_likelihood(step_log_probs: np.ndarray, bars: np.ndarray) -> np.ndarray:
    """Σ_t log p(step t = bar_t) read from per-step log-probabilities (B, 16, 32) → (B,)."""
    return np.take_along_axis(step_log_probs, bars[..., None], axis=-1)[..., 0].sum(axis=-1, dtype=np.float64)


# --- episodes -------------------------------------------------------------------------------------------------------
@dataclass
class TuningBatch:
    """B tuning episodes in flight (arrays are updated in place by :meth:`TuningProblem.step`)."""

    seed: np.ndarray  # (B, 16) seed bars
    bar: np.ndarray  # (B, 16) current bar 2
    start: np.ndarray  # (B, 16) the untuned bar 2
    targets: TargetArrays  # (B, 4) bands
    step_log_probs: np.ndarray  # (B, 16, 32) float32: the model's view of the untuned bar
    allowed: np.ndarray  # (B, 16, 32) bool: categories each step may hold (allowed_categories)
    values: np.ndarray  # (B, 4) current feature values
    log_likelihood: np.ndarray  # (B,) of the current bar
    start_log_likelihood: np.ndarray  # (B,) of the untuned bar
    potential: np.ndarray  # (B,) Φ of the current bar
    edits: np.ndarray  # (B,) actions that edited so far

    ARRAYS: ClassVar[tuple[str, ...]] = (
        "seed",
        "bar",
        "start",
        "step_log_probs",
        "allowed",
        "values",
        "log_likelihood",
        "start_log_likelihood",
        "potential",
        "edits",
    )

    def __len__(self) -> int:
        return len(self.bar)

    @property
    def edited(self) -> np.ndarray:
        """(B, 16) bool: steps that differ from the untuned bar."""
        return self.bar != self.start

    def replace_rows(self, rows: np.ndarray, fresh: TuningBatch) -> None:
        """Put ``fresh``'s episodes (targets included) in place of ``rows``, e.g. episodes that just ended."""
        for name in self.ARRAYS:
            getattr(self, name)[rows] = getattr(fresh, name)
        for name in ("kind", "lo", "hi"):
            getattr(self.targets, name)[rows] = getattr(fresh.targets, name)

    def take(self, rows: np.ndarray) -> TuningBatch:
        return TuningBatch(targets=self.targets.take(rows), **{name: getattr(self, name)[rows] for name in self.ARRAYS})

    @classmethod
    def concat(cls, batches: list[TuningBatch]) -> TuningBatch:
        return cls(
            targets=TargetArrays.concat([batch.targets for batch in batches]),
            **{name: np.concatenate([getattr(batch, name) for batch in batches]) for name in cls.ARRAYS},
        )


@dataclass(frozen=True)
class EditTable:
    """All 512 edits (step t → category c) of R episodes, (R, 16, 32, …), with what each would do. The columns
    only the agent's Q-network reads (distance gain, distance left, lands) are computed when first read."""

    values: np.ndarray  # (R, 16, 32, 4) feature values after the edit
    distance: np.ndarray  # (R, 16, 32, 4) each feature's distance to its band after the edit (band_distances)
    distance_before: np.ndarray  # (R, 4) ... before it
    requested: np.ndarray  # (R, 4)
    scales: np.ndarray  # (4,) distance_scales
    feature_gain: np.ndarray  # (R, 16, 32) change of Φ's feature part
    log_likelihood_change: np.ndarray  # (R, 16, 32) estimated from the untuned bar's per-step view
    edited_change: np.ndarray  # (R, 16, 32) change of the number of edited steps (+1, 0, −1 back to untuned)
    legal: np.ndarray  # (R, 16, 32) the edit is allowed (see the module docstring)
    gain: np.ndarray  # (R, 16, 32) the estimated reward of the edit (edit_reward)

    @cached_property
    def distance_gain(self) -> np.ndarray:
        """(R, 16, 32, 4) how much nearer its band each requested feature comes, in scales."""
        gain = (self.distance_before[:, None, None] - self.distance) / self.scales
        return np.where(self.requested[:, None, None], gain, 0.0)

    @cached_property
    def distance_left(self) -> np.ndarray:
        """(R, 16, 32, 4) each requested feature's distance to its band after the edit, in scales (capped at 4)."""
        return np.where(self.requested[:, None, None], np.minimum(self.distance / self.scales, 4.0), 0.0)

    @cached_property
    def lands(self) -> np.ndarray:
        """(R, 16, 32, 4) +1 a request lands inside its band, −1 it leaves it, 0 otherwise."""
        change = (self.distance == 0).astype(np.float64) - (self.distance_before == 0)[:, None, None]
        return np.where(self.requested[:, None, None], change, 0.0)

    def flat(self, name: str) -> np.ndarray:
        """A (R, 16, 32) field as (R, 512), indexed by action."""
        return getattr(self, name).reshape(len(self.gain), N_EDITS)

    def gain_with(self, log_likelihood_change: np.ndarray, reward: RewardConfig) -> np.ndarray:
        """The reward of each edit with a given (e.g. exact) log-likelihood change instead of the estimate."""
        return edit_reward(self.feature_gain, log_likelihood_change, self.edited_change, reward)


class TuningProblem:
    """Scorer + reward + rules + bands: starts, tabulates, masks and steps batches of episodes."""

    def __init__(
        self,
        scorer: Scorer,
        bands: FeatureBands,
        reward: RewardConfig,
        max_edits: int = 16,
        *,
        rules: EditRules | None = None,
        exact_likelihood: bool = True,
    ) -> None:
        self.scorer = scorer
        self.bands = bands
        self.reward = reward
        self.rules = rules or EditRules()
        self.scales = distance_scales(bands)
        self.max_edits = max_edits
        # False: between edits, log p is estimated from the untuned bar's per-step log-probabilities (no model call;
        # exact for a scorer with independent steps). Tuning uses it for speed and scores the final bar exactly.
        self.exact_likelihood = exact_likelihood

    def start(
        self,
        seed: np.ndarray,
        bars: np.ndarray,
        targets: TargetArrays,
        step_log_probs: np.ndarray | None = None,
        *,
        keep: np.ndarray | None = None,
        allowed: np.ndarray | None = None,
    ) -> TuningBatch:
        """Start episodes from untuned bars. ``keep`` (B, 5) or (5,) bool: parts never to change. Pass
        ``step_log_probs`` / ``allowed`` when already known (saves a forward pass / the rule check)."""
        seed = np.array(seed, dtype=np.int64).reshape(-1, STEPS_PER_BAR)
        bars = np.array(bars, dtype=np.int64).reshape(-1, STEPS_PER_BAR)
        log_probs = self.scorer.step_log_probs(seed, bars) if step_log_probs is None else step_log_probs
        if allowed is None:
            allowed = allowed_categories(bars, keep_mask(keep, len(bars)), self.rules)
        likelihood = static_log_likelihood(log_probs, bars)
        values = tuner_feature_values(bars)
        return TuningBatch(
            seed=seed,
            bar=bars.copy(),
            start=bars.copy(),
            targets=targets,
            step_log_probs=clipped_view(log_probs),
            allowed=np.array(allowed, dtype=bool),
            values=values,
            log_likelihood=likelihood,
            start_log_likelihood=likelihood.copy(),
            potential=potential(values, likelihood, likelihood, targets, self.scales, self.reward),
            edits=np.zeros(len(bars), dtype=np.int64),
        )

    def legal(self, batch: TuningBatch, *, once: bool = True) -> np.ndarray:
        """(B, 16, 32) bool: allowed, not a no-op, and (``once``) on a step not edited yet in this episode."""
        legal = batch.allowed & (np.arange(N_CATEGORIES) != batch.bar[..., None])
        if once:
            legal &= ~batch.edited[..., None]
        return legal

    def action_mask(self, batch: TuningBatch, *, once: bool = True) -> np.ndarray:
        """(B, 513) bool: the legal edits as actions, and stop (always legal)."""
        return action_mask(self.legal(batch, once=once))

    def edit_table(self, batch: TuningBatch, *, once: bool = True) -> EditTable:
        """Every edit of every episode of ``batch`` and what it would do (see :class:`EditTable`)."""
        targets = batch.targets.per_edit()
        requested = batch.targets.requested
        values = candidate_values(batch.bar, batch.values)
        before = band_distances(batch.values, batch.targets.lo, batch.targets.hi)
        after = band_distances(values, targets.lo, targets.hi)
        view = batch.step_log_probs.astype(np.float64)
        at_bar = np.take_along_axis(view, batch.bar[..., None], axis=-1)  # (B, 16, 1)
        back = np.arange(N_CATEGORIES) == batch.start[..., None]  # (B, 16, 32): the untuned category
        edited_change = np.where(back, 0.0, 1.0) - batch.edited[..., None]
        feature_gain = (
            distance_potential(after, targets.requested, self.scales, self.reward)
            - distance_potential(before, requested, self.scales, self.reward)[:, None, None]
        )
        likelihood_change = view - at_bar
        return EditTable(
            values=values,
            distance=after,
            distance_before=before,
            requested=requested,
            scales=self.scales,
            feature_gain=feature_gain,
            log_likelihood_change=likelihood_change,
            edited_change=edited_change,
            legal=self.legal(batch, once=once),
            gain=edit_reward(feature_gain, likelihood_change, edited_change, self.reward),
        )

    def step(self, batch: TuningBatch, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Apply one action per episode → (reward, terminated, truncated), each (B,). Stop leaves the bar as is."""
        actions = np.asarray(actions, dtype=np.int64)
        edit = actions != STOP
        rows = np.flatnonzero(edit)
        rewards = np.zeros(len(batch))
        if rows.size:
            before = self._reward_parts(batch, rows)
            batch.bar[rows, actions[rows] // N_CATEGORIES] = actions[rows] % N_CATEGORIES
            self.refresh(batch, rows, self.log_likelihood(batch, rows))
            after = self._reward_parts(batch, rows)
            rewards[rows] = edit_reward(*(a - b for a, b in zip(after, before, strict=True)), self.reward)
            batch.edits[rows] += 1
        truncated = edit & (batch.edits >= self.max_edits)
        return rewards, ~edit, truncated

    def _reward_parts(self, batch: TuningBatch, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(Φ's feature part, log p, edited steps) of the current bars of ``rows``: what edit_reward weighs."""
        features = feature_potential(batch.values[rows], batch.targets.take(rows), self.scales, self.reward)
        return features, batch.log_likelihood[rows].copy(), batch.edited[rows].sum(axis=1).astype(np.float64)

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

    def value(self, batch: TuningBatch) -> np.ndarray:
        """(B,) what every method maximises: Φ of the current bar minus the fees of its edited steps (an episode's
        return plus Φ of the untuned bar)."""
        return edit_reward(batch.potential, np.zeros(len(batch)), batch.edited.sum(axis=1), self.reward)

    def met(self, batch: TuningBatch) -> np.ndarray:
        """(B, 4) bool: requested and inside the band."""
        return requests_met(batch.values, batch.targets)

    def unmet(self, batch: TuningBatch) -> np.ndarray:
        """(B,) bool: some request lies outside its band."""
        return (self.met(batch) != batch.targets.requested).any(axis=1)

    def observation(self, batch: TuningBatch) -> dict[str, np.ndarray]:
        """The state of every episode (arrays with a leading B axis): what the Q-network and the Env show."""
        targets = batch.targets
        kind = np.where(targets.kind == SKIP, 0, targets.kind + 1)  # skip, low, medium, high, number
        one_hot = np.eye(NUMBER + 2, dtype=np.float32)[kind]  # (B, 4, 5)
        lo = np.where(targets.requested, (targets.lo - RANGE_LO) / RANGE_SPAN, 0.0)
        hi = np.where(targets.requested, (targets.hi - RANGE_LO) / RANGE_SPAN, 0.0)
        distances = np.where(targets.requested, band_distances(batch.values, targets.lo, targets.hi) / self.scales, 0.0)
        return {
            "seed": batch.seed.copy(),
            "bar": batch.bar.copy(),
            "edited": batch.edited.astype(np.int8),
            "targets": np.concatenate([one_hot, lo[..., None], hi[..., None]], axis=-1).astype(np.float32),
            "features": np.stack([(batch.values - RANGE_LO) / RANGE_SPAN, distances], axis=-1).astype(np.float32),
            "step_log_probs": batch.step_log_probs.copy(),
        }
