"""Search without learning: hill-climbing and random edits (the agent's baselines), the safety net and the polish.

All work on a :class:`TuningBatch` in place, many patterns at once.

* :func:`hill_climb`: at each step, the single edit with the highest reward (exact: every one of the 512 edits is
  scored by the continuation model), until no edit has a positive reward or the budget is spent.
* :func:`random_edits`: uniformly random legal edits until every request is met or the budget is spent.
* :func:`repair`: the cheap safety net run after the agent's episode when a request is still unmet: the edit that
  most improves the feature part of the potential, ties broken by the model's per-step view of the untuned bar
  (no model call), until every request is met or nothing improves.
* :func:`polish`: after the agent's episode, re-choose its edits by the exact log-likelihood (a few batched model
  calls), never breaking a met request and adding an edit only when the likelihood pays its fee.
"""

from __future__ import annotations

import numpy as np

from jaki.features import tuner_feature_values
from jaki.pattern import N_CATEGORIES, STEPS_PER_BAR
from jaki.tuner.env import N_EDITS, STOP, TuningBatch, TuningProblem, action_mask, candidate_values
from jaki.tuner.reward import band_distances, feature_potential


def _candidate_feature_potential(problem: TuningProblem, batch: TuningBatch, rows: np.ndarray) -> np.ndarray:
    """(R, 512) feature part of Φ after each edit of the given rows."""
    values = candidate_values(batch.bar[rows], batch.values[rows])  # (R, 16, 32, 4)
    targets = batch.targets.take(rows).per_edit()
    return feature_potential(values, targets, problem.scales, problem.reward).reshape(len(rows), N_EDITS)


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
    after = feature_potential(candidate_values(firsts, values), targets.per_edit(), problem.scales, problem.reward)
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


def polish(problem: TuningProblem, batch: TuningBatch, passes: int = 2, checked: int = 16) -> np.ndarray:
    """Re-choose the edited steps by the exact log-likelihood; returns the polish moves made per row.

    Needs exact ``batch.log_likelihood`` (of the current bars). At each pass the candidates are: every other
    category of an edited step (its untuned category included, which saves an edit), every move of an edit
    (revert an edited step, edit an unedited one), and one more edit of an unedited step (which pays a fee), as
    long as each met request stays inside its band and the feature part of Φ does not fall. The ``checked`` most
    promising by the untuned bar's per-step view are scored exactly (one batched model call for the whole batch),
    and the one that raises Φ − edit fees the most, if any, is made: a local hill-climb on the reward around the
    agent's bar that never breaks a met request and never lowers Φ − edit fees. Bars without edits are left alone.
    """
    moves = np.zeros(len(batch), dtype=np.int64)
    for _ in range(passes):
        found = [_polish_candidates(problem, batch, rows, checked) for rows in _edited_chunks(batch)]
        found = [f for f in found if f[0].size]
        if not found:
            break
        rows, candidates, gain_without_likelihood = (np.concatenate(parts) for parts in zip(*found, strict=True))
        exact = np.asarray(problem.scorer(batch.seed[rows], candidates), dtype=np.float64)
        gain = gain_without_likelihood + problem.reward.closeness * (exact - batch.log_likelihood[rows])
        order = np.lexsort((-gain, rows))  # by row, best first
        first = order[np.r_[True, rows[order][1:] != rows[order][:-1]]]
        picked = first[gain[first] > 1e-9]
        if picked.size == 0:
            break
        changed = rows[picked]
        batch.bar[changed] = candidates[picked]
        problem.refresh(batch, changed, exact[picked])
        moves[changed] += 1
    return moves


def _edited_chunks(batch: TuningBatch, size: int = 1024):
    rows = np.flatnonzero((batch.bar != batch.start).any(axis=1))
    for begin in range(0, rows.size, size):
        yield rows[begin : begin + size]


def _polish_candidates(
    problem: TuningProblem, batch: TuningBatch, rows: np.ndarray, checked: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``checked`` most promising polish candidates of each row → (row, bar (N, 16), Φ gain − fees without the
    log-likelihood change)."""
    bar, start = batch.bar[rows], batch.start[rows]
    edited = bar != start  # (R, 16)
    # Bases: the bar itself (edits of its edited steps), and the bar with one edited step reverted (edits elsewhere).
    base_row, reverted = np.nonzero(edited)
    base_row = np.concatenate([np.arange(rows.size), base_row])
    reverted = np.concatenate([np.full(rows.size, -1), reverted])
    bases = bar[base_row].copy()
    moved = reverted >= 0
    bases[moved, reverted[moved]] = start[base_row[moved], reverted[moved]]
    targets = batch.targets.take(rows[base_row]).per_edit()
    after = candidate_values(bases, tuner_feature_values(bases))  # (N, 16, 32, 4)
    features = feature_potential(after, targets, problem.scales, problem.reward)  # (N, 16, 32)
    now = feature_potential(batch.values[rows], batch.targets.take(rows), problem.scales, problem.reward)[base_row]
    met = problem.met(batch)[rows][base_row]  # (N, 4)
    keeps = np.all((band_distances(after, targets.lo, targets.hi) == 0) | ~met[:, None, None, :], axis=-1)
    # Which steps a base may edit: the bar itself, any; a reverted base, the steps that were not edited (a move).
    steps = np.where(moved[:, None], ~edited[base_row], True)
    legal = keeps & (features >= now[:, None, None] - 1e-9) & steps[..., None]
    legal[np.arange(len(bases))[:, None], np.arange(STEPS_PER_BAR), bases] = False
    back = np.arange(N_CATEGORIES) == start[base_row][..., None]  # (N, 16, 32): back to the untuned category
    # Edit fees: setting an edited step back saves one, editing an unedited step of the bar itself costs one.
    fee = problem.reward.edit_cost * np.where(
        moved[:, None, None], 0.0, np.where(back, -1.0, np.where(edited[base_row][..., None], 0.0, 1.0))
    )
    view = batch.step_log_probs[rows][base_row].astype(np.float64)  # (N, 16, 32)
    at_bar = np.take_along_axis(view, bar[base_row][..., None], axis=-1)  # (N, 16, 1)
    change = view - at_bar  # the per-step view's log-likelihood change of setting one step
    undo = np.where(
        moved, change[np.arange(len(bases)), np.maximum(reverted, 0), start[base_row, np.maximum(reverted, 0)]], 0.0
    )
    static_gain = features - now[:, None, None] - fee
    estimate = static_gain + problem.reward.closeness * (change + undo[:, None, None])
    estimate = np.where(legal, estimate, -np.inf)
    # Top ``checked`` per row across its bases.
    flat = estimate.reshape(len(bases), N_EDITS)
    per_row = np.full((rows.size, 1 + STEPS_PER_BAR, N_EDITS), -np.inf)
    slot = np.concatenate([np.zeros(rows.size, dtype=np.int64), 1 + reverted[rows.size :]])
    per_row[base_row, slot] = flat
    per_row = per_row.reshape(rows.size, -1)
    k = min(checked, per_row.shape[1])
    top = np.argpartition(-per_row, k - 1, axis=1)[:, :k]
    r, j = np.nonzero(np.isfinite(np.take_along_axis(per_row, top, axis=1)))
    chosen = top[r, j]
    base_of = np.full((rows.size, 1 + STEPS_PER_BAR), -1)
    base_of[base_row, slot] = np.arange(len(bases))
    base = base_of[r, chosen // N_EDITS]
    action = chosen % N_EDITS
    candidates = bases[base].copy()
    candidates[np.arange(base.size), action // N_CATEGORIES] = action % N_CATEGORIES
    return rows[r], candidates, static_gain.reshape(len(bases), N_EDITS)[base, action]
