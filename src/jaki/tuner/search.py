"""Search without learning: greedy hill-climbing and random edits (the agent's baselines), and the safety net.

All work on a :class:`TuningBatch` in place, many patterns at once.

* :func:`hill_climb`: at each step, the single edit with the highest reward (exact: every one of the 512 edits is
  scored by the continuation model), until no edit has a positive reward or the budget is spent.
* :func:`random_edits`: uniformly random legal edits until every request is met or the budget is spent.
* :func:`repair`: the cheap safety net run after the agent's episode when a request is still unmet: the edit that
  most improves the feature part of the potential, ties broken by the model's per-step view of the untuned bar
  (no model call), until every request is met or nothing improves.
"""

from __future__ import annotations

import numpy as np

from jaki.features import tuner_feature_values
from jaki.pattern import N_CATEGORIES
from jaki.tuner.env import N_EDITS, STOP, TuningBatch, TuningProblem, action_mask, candidate_values
from jaki.tuner.reward import feature_potential


def _candidate_feature_potential(problem: TuningProblem, batch: TuningBatch, rows: np.ndarray) -> np.ndarray:
    """(R, 512) feature part of Φ after each edit of the given rows."""
    values = candidate_values(batch.bar[rows], batch.values[rows])  # (R, 16, 32, 4)
    targets = batch.targets.take(rows)
    broadcast = type(targets)(*(getattr(targets, n)[:, None, None, :] for n in ("kind", "lo", "hi")))
    return feature_potential(values, broadcast, problem.scales, problem.reward).reshape(len(rows), N_EDITS)


def _candidate_bars(bar: np.ndarray) -> np.ndarray:
    """(16,) → (512, 16): every single edit of one bar."""
    bars = np.repeat(bar[None], N_EDITS, axis=0)
    bars[np.arange(N_EDITS), np.arange(N_EDITS) // N_CATEGORIES] = np.arange(N_EDITS) % N_CATEGORIES
    return bars


def _unmet(problem: TuningProblem, batch: TuningBatch) -> np.ndarray:
    return (problem.met(batch) != batch.targets.requested).any(axis=1)


def hill_climb(problem: TuningProblem, batch: TuningBatch, budget: int) -> None:
    """Greedy hill-climbing on the tuner's reward (exact log-likelihood of every candidate)."""
    active = np.ones(len(batch), dtype=bool)
    for _ in range(budget):
        rows = np.flatnonzero(active)
        if rows.size == 0:
            break
        features = _candidate_feature_potential(problem, batch, rows)
        likelihood = np.stack([problem.scorer(batch.seed[r : r + 1], _candidate_bars(batch.bar[r])) for r in rows])
        closeness = problem.reward.closeness * (likelihood - batch.start_log_likelihood[rows, None])
        gain = features + closeness - batch.potential[rows, None] - problem.reward.edit_cost
        gain[~action_mask(batch.bar[rows])[:, :N_EDITS]] = -np.inf
        best = gain.argmax(axis=1)
        improves = gain[np.arange(rows.size), best] > 0
        actions = np.full(len(batch), STOP)
        actions[rows[improves]] = best[improves]
        problem.step(batch, actions)
        active[rows[~improves]] = False


def random_edits(problem: TuningProblem, batch: TuningBatch, budget: int, rng: np.random.Generator) -> None:
    """Random legal edits (stop excluded) until every request is met or ``budget`` edits are made."""
    for _ in range(budget):
        rows = np.flatnonzero(_unmet(problem, batch))
        if rows.size == 0:
            break
        scores = rng.random((rows.size, N_EDITS))
        scores[~action_mask(batch.bar[rows], batch.start[rows])[:, :N_EDITS]] = -1.0
        actions = np.full(len(batch), STOP)
        actions[rows] = scores.argmax(axis=1)
        problem.step(batch, actions)


def repair(problem: TuningProblem, batch: TuningBatch, budget: int) -> np.ndarray:
    """Finish unmet requests with feature-greedy edits (likelier first); returns the edits made per row.

    When no single edit improves the features (one request's band blocks another's: e.g. adding a cymbal step would
    cost a half-bar match), the best improving pair of edits is made instead.
    """
    made = np.zeros(len(batch), dtype=np.int64)
    while made.max(initial=0) < budget:
        rows = np.flatnonzero(_unmet(problem, batch) & (made < budget))
        if rows.size == 0:
            break
        features = _candidate_feature_potential(problem, batch, rows)
        now = feature_potential(batch.values[rows], batch.targets.take(rows), problem.scales, problem.reward)
        log_probs = batch.step_log_probs[rows]  # (R, 16, 32)
        current = np.take_along_axis(log_probs, batch.bar[rows][..., None], axis=-1)
        likelihood_change = (log_probs - current).reshape(rows.size, N_EDITS)
        # Feature progress first; the model's view only orders edits of equal feature progress.
        score = np.where(features > now[:, None] + 1e-9, features + 1e-3 * likelihood_change, -np.inf)
        best = score.argmax(axis=1)
        improves = np.isfinite(score[np.arange(rows.size), best])
        actions = np.full(len(batch), STOP)
        actions[rows[improves]] = best[improves]
        stuck = [row for row in rows[~improves] if made[row] + 2 <= budget]
        pairs = {row: _best_pair(problem, batch, row) for row in stuck}
        for row, pair in pairs.items():
            if pair is not None:
                actions[row] = pair[0]
        if np.all(actions == STOP):
            break
        problem.step(batch, actions)
        made[actions != STOP] += 1
        second = np.full(len(batch), STOP)
        for row, pair in pairs.items():
            if pair is not None:
                second[row] = pair[1]
        if np.any(second != STOP):
            problem.step(batch, second)
            made[second != STOP] += 1
    return made


def _best_pair(problem: TuningProblem, batch: TuningBatch, row: int) -> tuple[int, int] | None:
    """The pair of edits of one bar that most improves the feature part of Φ, if any does."""
    firsts = _candidate_bars(batch.bar[row])  # (512, 16)
    values = tuner_feature_values(firsts)
    targets = batch.targets.take(np.array([row]))
    broadcast = type(targets)(*(getattr(targets, n)[:, None, None, :] for n in ("kind", "lo", "hi")))
    after = feature_potential(candidate_values(firsts, values), broadcast, problem.scales, problem.reward)
    after = after.reshape(N_EDITS, N_EDITS)
    after[np.arange(N_EDITS), np.arange(N_EDITS)] = -np.inf
    now = feature_potential(batch.values[row : row + 1], targets, problem.scales, problem.reward)[0]
    first, second = np.unravel_index(np.argmax(after), after.shape)
    if (
        after[first, second] <= now + 1e-9
        or firsts[first, first // N_CATEGORIES] == batch.bar[row, first // N_CATEGORIES]
    ):
        return None
    return int(first), int(second)
