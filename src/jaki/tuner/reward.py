"""The tuner's reward, in one place: the change of a potential, minus a small cost per edit.

For a bar 2 ``x`` tuned after a seed bar ``s``, with feature values ``v_f(x)`` and requested bands ``[lo_f, hi_f]``::

    Φ(x) = Σ_{f requested} −( d_f(x) / scale_f + met_bonus · [d_f(x) > 0] )  +  closeness · (log p(x | s) − log p(x₀ | s))

    reward(x → x') = Φ(x') − Φ(x) − edit_cost · [x' ≠ x]

* ``d_f`` is the distance of the value to its band (0 inside). ``scale_f`` is the width of the feature's medium band
  (at least 1/48 of its range), so one band-width of distance weighs the same for every feature, whatever its units.
* ``met_bonus`` pays once for landing inside a band: without it the last unit of distance could be worth less
  than the log-likelihood an edit costs, and the tuner would stop just short of the band.
* ``closeness`` weighs the continuation model's log-likelihood (nats), as RL Tuner's 1/c; ``x₀`` is the untuned
  continuation, so Φ(x₀) is minus the distance term. Set it to 0 for the ablation without the model.
* Skipped features contribute nothing. Because the reward is a difference of potentials, an episode's return is
  Φ(end) − Φ(start) − edit_cost · edits whatever route it took: reaching the same bar in more edits only costs
  the edit fee. Stopping earns 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jaki.features import FEATURE_RANGES, TUNER_FEATURES, FeatureBands, band_distances
from jaki.tuner.targets import TargetArrays


@dataclass
class RewardConfig:
    """Weights of the tuner's potential (see the module docstring)."""

    closeness: float = 0.1  # weight of the continuation's log-likelihood, per nat (RL Tuner's 1/c); 0 = ablation
    met_bonus: float = 1.0  # potential for each requested feature that lies inside its band
    edit_cost: float = 0.02  # charged for every edit, so that edits that change nothing worth having are not made


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
    distance = band_distances(values, targets.lo, targets.hi)
    per_feature = distance / scales + config.met_bonus * (distance > 0)
    return -np.sum(np.where(targets.requested, per_feature, 0.0), axis=-1)


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


def step_reward(phi_before: np.ndarray, phi_after: np.ndarray, edited: np.ndarray, config: RewardConfig) -> np.ndarray:
    """Reward of one step, (B,): the change of Φ, minus the edit fee where an edit was made (not on "stop")."""
    return phi_after - phi_before - config.edit_cost * edited


def requests_met(values: np.ndarray, targets: TargetArrays) -> np.ndarray:
    """(B, 4) bool: the feature is requested and its value lies inside the band."""
    return targets.requested & (band_distances(values, targets.lo, targets.hi) == 0)
