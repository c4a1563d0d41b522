"""The ways to tune, all reading the problem's edit table: the agent's episode, greedy hill-climbing, random edits, the
safety net (repair), the likelihood polish and per-seed refinement; one batched door (:func:`tune_batch`) and the
one-pattern API (:func:`tune`).

* :func:`agent_episode`: the agent's greedy episode; at each step its best few edits by Q are re-scored with the
  model's exact log-likelihood (one batched model call) before one is made.
* :func:`hill_climb`: at each step the single edit with the highest reward, every one of the 512 edits scored
  exactly by the model, until no edit has a positive reward or the budget is spent.
* :func:`random_edits`: uniformly random legal edits until every request is met or the budget is spent.
* :func:`repair`: the safety net after the agent's episode: the edit that most improves Φ's feature part, ties broken
  by the untuned bar's per-step view (no model call), until every request is met or nothing improves.
* :func:`polish`: re-choose the agent's edits by the exact log-likelihood (a few batched model calls), never breaking
  a met request and adding an edit only when the likelihood pays its fee.
* :func:`refine_per_seed`: keep training the agent on one pattern and its targets, keep the better episode.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields, replace
from functools import partial

import numpy as np
import torch

from jaki.backends import default_workers
from jaki.errors import JakiInputError
from jaki.features import TUNER_FEATURES, FeatureBands, tuner_feature_values
from jaki.pattern import CATEGORY_LABELS, N_CATEGORIES, STEPS_PER_BAR, Pattern
from jaki.tuner.dqn import (
    TrainingPool,
    TrainProgress,
    TuningAgent,
    load_agent,
    masked_argmax,
    network_inputs,
    train_agent,
)
from jaki.tuner.problem import (
    N_EDITS,
    STOP,
    EditRules,
    RewardConfig,
    TuningBatch,
    TuningProblem,
    action_mask,
    clipped_view,
    edit_reward,
    feature_potential,
    keep_mask,
    requests_met,
)
from jaki.tuner.scorer import ModelScorer, Scorer
from jaki.tuner.targets import TargetArrays, Targets, target_arrays

METHODS = ("agent", "greedy", "refine", "random", "none")
# Methods that tune each pattern on its own, so that a batch can be cut into slices (random and refine draw from one
# generator in turn).
SLICED_METHODS = ("agent", "greedy", "none")


@dataclass(frozen=True)
class MethodConfig:
    """The knobs of the ways to tune (the agent's own are in :class:`jaki.tuner.dqn.DQNConfig`)."""

    checked: int = 4  # the agent's best edits re-scored with the exact log-likelihood at each step
    stop_margin: float = (
        0.2  # an agent's edit must be worth more than this (reward units): the best of noisy Qs is biased up
    )
    repair_budget: int = 16  # safety-net edits allowed after the agent's episode
    # The polish is where the agent's bar gains its likelihood edge over greedy hill-climbing (whose every edit is
    # scored exactly): with 2 passes of 8 candidates the agent trailed greedy on programmed seeds. Ranked by the
    # current bar's own per-step view, the exact-best candidate is among the first 16 in 93 % of bars (90 % among
    # the first 32 by the untuned bar's view).
    polish_passes: int = 4  # passes of the likelihood polish after the agent's episode and the safety net
    polish_checked: int = 16  # polish candidates per pattern scored exactly at each pass (one batched model call)
    polish_chunk: int = 1024  # patterns polished per batched model call
    repair_tie_break: float = 1e-3  # weight of the per-step view's log-likelihood change among equal feature gains
    # A large batch is tuned in slices of this many patterns whatever the number of workers, so that the bars never
    # depend on it; smaller slices cost more per pattern (measured: +9 % CPU at 250, none at 500). Worker threads
    # tune slices side by side: torch and numpy release the GIL in their kernels, and the slices share the model.
    slice_patterns: int = 512
    workers: int | None = None  # threads tuning slices (None: one per core this process may use)


@dataclass(frozen=True)
class RefineConfig:
    """Per-seed refinement: keep training the agent on one pattern and its targets."""

    steps: int = 100  # vectorised training steps
    n_envs: int = 16  # episodes of this pattern run side by side
    start_e: float = 0.3  # exploration restarts here (the pretrained agent already knows the task)
    explore_steps: int = 50  # ε falls linearly to the agent's end_e over these steps
    seconds: float | None = None  # wall-time budget (None: only ``steps``)


# --- the agent's episode ----------------------------------------------------------------------------------------
@torch.inference_mode()
def agent_episode(
    agent: TuningAgent, problem: TuningProblem, batch: TuningBatch, *, checked: int = 0, stop_margin: float = 0.0
) -> None:
    """One greedy episode for every row of ``batch`` (in place): best masked action until stop or budget.

    With ``checked`` > 0, the ``checked`` best actions by Q are re-scored with the model's exact log-likelihood (one
    batched model call per step): each Q-value swaps its edit's estimated reward for the exact one (the same edit
    table, exact log-likelihood change), and the batch's log-likelihoods end exact. An edit is made only when worth
    more than ``stop_margin``.
    """
    checked = checked if problem.reward.closeness > 0 else 0
    exact = batch.log_likelihood.copy()  # exact for the untuned bars
    active = np.ones(len(batch), dtype=bool)
    while active.any():
        rows = np.flatnonzero(active)
        episodes = batch.take(rows)
        table = problem.edit_table(episodes)
        mask = action_mask(table.legal)
        q_values = agent.network(network_inputs(problem, episodes, table), legal=table.legal)
        q_values[:, :N_EDITS] -= stop_margin
        actions = np.full(len(batch), STOP)
        actions[rows] = masked_argmax(q_values, mask)
        # Only an edit the agent would make is checked: deciding to stop needs no model call.
        check = np.flatnonzero(actions[rows] != STOP) if checked else rows[:0]
        if check.size:
            q_checked = q_values[torch.as_tensor(check)].masked_fill(~torch.as_tensor(mask[check]), -torch.inf)
            scores, top = (t.numpy() for t in q_checked.topk(checked, dim=1))
            scores = scores.astype(np.float64)
            edit = (top != STOP) & np.isfinite(scores)
            step, category = top // N_CATEGORIES % STEPS_PER_BAR, top % N_CATEGORIES
            bars = np.repeat(episodes.bar[check][:, None, :], checked, axis=1)  # (R, k, 16)
            bars[edit, step[edit]] = category[edit]
            base = np.repeat(np.arange(check.size), checked)
            likelihood = problem.scorer.variants(episodes.seed[check], episodes.bar[check], base, bars)
            likelihood = likelihood.reshape(check.size, checked)
            r = np.arange(check.size)[:, None]
            at = (check[:, None], step, category)
            exact_gain = edit_reward(
                table.feature_gain[at],
                likelihood - exact[rows[check]][:, None],
                table.edited_change[at],
                problem.reward,
            )
            scores = np.where(edit, scores - table.gain[at] + exact_gain, np.where(top == STOP, 0.0, scores))
            best = scores.argmax(axis=1)
            stop = scores[r[:, 0], best] <= 0.0
            actions[rows[check]] = np.where(stop, STOP, top[r[:, 0], best])
            exact[rows[check]] = np.where(stop, exact[rows[check]], likelihood[r[:, 0], best])
        _, terminated, truncated = problem.step(batch, actions)
        active &= ~(terminated | truncated)
    if checked:
        batch.log_likelihood[:] = exact


# --- search without learning ---------------------------------------------------------------------------------------
def _single_edits(bars: np.ndarray) -> np.ndarray:
    """(R, 16) → (R, 512, 16): every single edit of each bar, indexed by action."""
    edits = np.repeat(bars[:, None], N_EDITS, axis=1)
    edits[:, np.arange(N_EDITS), np.arange(N_EDITS) // N_CATEGORIES] = np.arange(N_EDITS) % N_CATEGORIES
    return edits


def hill_climb(problem: TuningProblem, batch: TuningBatch, budget: int) -> None:
    """Greedy hill-climbing on the tuner's reward (exact log-likelihood of every candidate)."""
    active = np.ones(len(batch), dtype=bool)
    for _ in range(budget):
        rows = np.flatnonzero(active)
        if rows.size == 0:
            break
        episodes = batch.take(rows)
        table = problem.edit_table(episodes, once=False)
        base = np.repeat(np.arange(rows.size), N_EDITS)
        likelihood = problem.scorer.variants(episodes.seed, episodes.bar, base, _single_edits(episodes.bar))
        change = likelihood.reshape(table.gain.shape) - episodes.log_likelihood[:, None, None]
        gain = np.where(table.legal, table.gain_with(change, problem.reward), -np.inf).reshape(rows.size, N_EDITS)
        best = gain.argmax(axis=1)
        improves = gain[np.arange(rows.size), best] > 0
        actions = np.full(len(batch), STOP)
        actions[rows[improves]] = best[improves]
        problem.step(batch, actions)
        active[rows[~improves]] = False


def random_edits(problem: TuningProblem, batch: TuningBatch, budget: int, rng: np.random.Generator) -> None:
    """Random legal edits (stop excluded) until every request is met or ``budget`` edits are made."""
    for _ in range(budget):
        rows = np.flatnonzero(problem.unmet(batch))
        if rows.size == 0:
            break
        legal = problem.legal(batch.take(rows)).reshape(rows.size, N_EDITS)
        scores = np.where(legal, rng.random((rows.size, N_EDITS)), -1.0)
        actions = np.full(len(batch), STOP)
        actions[rows] = np.where(legal.any(axis=1), scores.argmax(axis=1), STOP)
        if np.all(actions == STOP):
            break
        problem.step(batch, actions)


def repair(problem: TuningProblem, batch: TuningBatch, budget: int, tie_break: float = 1e-3) -> np.ndarray:
    """Finish unmet requests with feature-greedy legal edits (likelier first); returns the edits made per row.

    When no single edit improves the features (one request's band blocks another's: e.g. adding a cymbal step would
    cost a half-bar match), the best improving pair of edits is made instead.
    """
    made = np.zeros(len(batch), dtype=np.int64)
    while made.max(initial=0) < budget:
        rows = np.flatnonzero(problem.unmet(batch) & (made < budget))
        if rows.size == 0:
            break
        table = problem.edit_table(batch.take(rows), once=False)
        # Feature progress first; the model's view only orders edits of equal feature progress.
        improves_features = table.legal & (table.feature_gain > 1e-9)
        score = np.where(improves_features, table.feature_gain + tie_break * table.log_likelihood_change, -np.inf)
        score = score.reshape(rows.size, N_EDITS)
        best = score.argmax(axis=1)
        improves = np.isfinite(score[np.arange(rows.size), best])
        actions = np.full(len(batch), STOP)
        actions[rows[improves]] = best[improves]
        second = np.full(len(batch), STOP)
        for row in rows[~improves]:
            pair = _best_pair(problem, batch, row) if made[row] + 2 <= budget else None
            if pair is not None:
                actions[row], second[row] = pair
        if np.all(actions == STOP):
            break
        for step_actions in (actions, second):
            if np.any(step_actions != STOP):
                problem.step(batch, step_actions)
                made[step_actions != STOP] += 1
    return made


def _best_pair(problem: TuningProblem, batch: TuningBatch, row: int) -> tuple[int, int] | None:
    """The pair of legal edits of one bar that most improves Φ's feature part, if any does."""
    first_legal = problem.legal(batch.take(np.array([row])), once=False).reshape(N_EDITS)
    firsts = np.flatnonzero(first_legal)
    if firsts.size == 0:
        return None
    after_first = batch.take(np.full(firsts.size, row))
    after_first.bar[np.arange(firsts.size), firsts // N_CATEGORIES] = firsts % N_CATEGORIES
    after_first.values = tuner_feature_values(after_first.bar)
    table = problem.edit_table(after_first, once=False)
    first_gain = feature_potential(after_first.values, after_first.targets, problem.scales, problem.reward) - (
        feature_potential(
            batch.values[row : row + 1], batch.targets.take(np.array([row])), problem.scales, problem.reward
        )
    )
    total = np.where(table.legal, table.feature_gain + first_gain[:, None, None], -np.inf).reshape(firsts.size, N_EDITS)
    first, second = np.unravel_index(np.argmax(total), total.shape)
    if total[first, second] <= 1e-9:
        return None
    return int(firsts[first]), int(second)


# --- the likelihood polish -------------------------------------------------------------------------------------------
def polish(problem: TuningProblem, batch: TuningBatch, config: MethodConfig | None = None) -> np.ndarray:
    """Re-choose the edited steps by the exact log-likelihood; returns the polish moves made per row.

    Needs exact ``batch.log_likelihood`` (of the current bars). At each pass the candidates are: every other
    category of an edited step (its untuned category included, which refunds an edit's fee), every move of an edit
    (revert an edited step, edit an unedited one), and one more edit of an unedited step (which pays a fee), as long
    as each met request stays inside its band and Φ's feature part does not fall. The ``polish_checked`` most
    promising by the edit table's estimate are scored exactly (one batched model call), and the one whose exact
    reward is highest, if positive, is made: a local hill-climb on the reward around the agent's bar that never
    breaks a met request. Bars without edits are left alone.
    """
    config = config or MethodConfig()
    moves = np.zeros(len(batch), dtype=np.int64)
    polished = np.flatnonzero(batch.edited.any(axis=1))
    for _ in range(config.polish_passes):
        found = []
        for rows in (polished[i : i + config.polish_chunk] for i in range(0, polished.size, config.polish_chunk)):
            # One model pass gives the current bars' view, which ranks the candidates, and scores them from there.
            scored = problem.scorer.scored(batch.seed[rows], batch.bar[rows])
            base, *chosen = _polish_candidates(
                problem, batch, rows, clipped_view(scored.step_log_probs), config.polish_checked
            )
            if base.size:
                found.append((rows[base], *chosen, scored.variants(base, chosen[0])))
        if not found:
            break
        rows, candidates, feature_gain, edited_change, exact = (
            np.concatenate(parts) for parts in zip(*found, strict=True)
        )
        gain = edit_reward(feature_gain, exact - batch.log_likelihood[rows], edited_change, problem.reward)
        order = np.lexsort((-gain, rows))  # by row, best first
        first = order[np.r_[True, rows[order][1:] != rows[order][:-1]]]
        picked = first[gain[first] > 1e-9]
        if picked.size == 0:
            break
        changed = rows[picked]
        batch.bar[changed] = candidates[picked]
        problem.refresh(batch, changed, exact[picked])
        moves[changed] += 1
        # A bar that did not move would find the same candidates again.
        polished = changed[batch.edited[changed].any(axis=1)]
    return moves


def _polish_candidates(
    problem: TuningProblem, batch: TuningBatch, rows: np.ndarray, view: np.ndarray, checked: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The ``checked`` most promising polish candidates of each row by the estimate from ``view`` (the current bars'
    per-step log-probabilities) → (index into ``rows``, bar (N, 16), feature gain, change of the edited steps), both
    relative to the row's current bar.

    The current bars' own view prices each candidate's first changed step exactly (the untuned bar's view goes stale
    as edits pile up), so that the exact-best candidate is among the few scored far more often.
    """
    current = batch.take(rows)
    current.step_log_probs = view
    edited = current.edited  # (R, 16)
    # Bases: the bar itself (edits of any step), and the bar with one edited step reverted (edits of unedited steps).
    base_row, reverted = np.nonzero(edited)
    base_row = np.concatenate([np.arange(rows.size), base_row])
    reverted = np.concatenate([np.full(rows.size, -1), reverted])
    moved = reverted >= 0
    bases = current.take(base_row)
    bases.bar[moved, reverted[moved]] = bases.start[moved, reverted[moved]]
    bases.values = tuner_feature_values(bases.bar)
    table = problem.edit_table(bases, once=False)
    # Each candidate = base, then an edit: its gain over the current bar is the base's own plus the edit's.
    now = feature_potential(current.values, current.targets, problem.scales, problem.reward)[base_row]
    base_feature_gain = feature_potential(bases.values, bases.targets, problem.scales, problem.reward) - now
    view = current.step_log_probs[base_row].astype(np.float64)
    reverted_step = np.maximum(reverted, 0)
    base_likelihood_change = np.where(
        moved,
        view[np.arange(len(bases)), reverted_step, bases.start[np.arange(len(bases)), reverted_step]]
        - view[np.arange(len(bases)), reverted_step, current.bar[base_row, reverted_step]],
        0.0,
    )
    base_edited_change = -moved.astype(np.float64)
    feature_gain = table.feature_gain + base_feature_gain[:, None, None]
    edited_change = table.edited_change + base_edited_change[:, None, None]
    estimate = edit_reward(
        feature_gain, table.log_likelihood_change + base_likelihood_change[:, None, None], edited_change, problem.reward
    )
    met = requests_met(current.values, current.targets)[base_row]  # (N, 4)
    keeps = np.all((table.distance == 0) | ~met[:, None, None, :], axis=-1)  # met requests stay inside
    steps = np.where(moved[:, None], ~edited[base_row], True)  # a move edits a step that was not edited
    legal = table.legal & keeps & (feature_gain >= -1e-9) & steps[..., None]
    estimate = np.where(legal, estimate, -np.inf).reshape(len(bases), N_EDITS)
    # The ``checked`` best per row, across its bases: each base's ``checked`` best (a partial sort), then the best
    # of those per row.
    top = np.sort(np.argpartition(-estimate, checked - 1, axis=1)[:, :checked], axis=1)
    base, action = np.repeat(np.arange(len(bases)), checked), top.reshape(-1)
    finite = np.isfinite(estimate[base, action])
    base, action = base[finite], action[finite]
    owner, score = base_row[base], estimate[base, action]
    order = np.lexsort((-score, owner))
    rank = np.arange(order.size) - np.searchsorted(owner[order], owner[order], side="left")
    chosen = order[rank < checked]
    base, action = base[chosen], action[chosen]
    candidates = bases.bar[base].copy()
    candidates[np.arange(base.size), action // N_CATEGORIES] = action % N_CATEGORIES
    flat = lambda a: a.reshape(len(bases), N_EDITS)[base, action]  # noqa: E731
    return base_row[base], candidates, flat(feature_gain), flat(edited_change)


# --- per-seed refinement ------------------------------------------------------------------------------------------
def refine_per_seed(
    problem: TuningProblem,
    batch: TuningBatch,
    agent: TuningAgent,
    config: RefineConfig,
    methods: MethodConfig,
    rng: np.random.Generator,
    progress: Callable[[TrainProgress], None] | None,
) -> TuningBatch:
    """Per pattern: the pretrained agent's episode, then training on this pattern alone and another episode; the
    better of the two by the exact value (Φ − edit fees) is kept."""
    results = []
    for row in range(len(batch)):
        one = batch.take(np.array([row]))
        candidates = []
        for tuned_agent in (agent, None):
            if tuned_agent is None:
                dqn = replace(
                    agent.config,
                    total_steps=config.steps,
                    n_envs=config.n_envs,
                    start_e=config.start_e,
                    learning_starts=min(10, config.steps),
                    exploration_fraction=min(1.0, config.explore_steps / config.steps),
                    seed=int(rng.integers(2**31)),
                )
                tuned_agent = train_agent(
                    problem.scorer,
                    TrainingPool.of(one),
                    problem.bands,
                    config=dqn,
                    rules=problem.rules,
                    agent=agent,
                    targets=one.targets,
                    progress=progress,
                    time_budget_s=config.seconds,
                )
            episode = one.take(np.array([0]))
            agent_episode(tuned_agent, problem, episode, checked=methods.checked, stop_margin=methods.stop_margin)
            problem.refresh(episode, np.array([0]), problem.scorer(episode.seed, episode.bar))
            candidates.append((float(problem.value(episode)[0]), episode))
        results.append(max(candidates, key=lambda item: item[0])[1])
    return TuningBatch.concat(results)


# --- the batched door -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BatchOutcome:
    """What a method did to B patterns."""

    bars: np.ndarray  # (B, 16) tuned bar 2s
    values: np.ndarray  # (B, 4)
    met: np.ndarray  # (B, 4) requested and inside the band
    requested: np.ndarray  # (B, 4)
    log_likelihood: np.ndarray  # (B,) exact, under the scorer
    start_log_likelihood: np.ndarray  # (B,) of the untuned bars
    edits: np.ndarray  # (B,) steps that differ from the untuned bar
    repaired: np.ndarray  # (B,) edits made by the safety net (agent methods)
    seconds: float  # wall time of the whole batch

    @classmethod
    def concat(cls, outcomes: list[BatchOutcome], seconds: float) -> BatchOutcome:
        """The outcomes of a batch's slices, in order, as one (``seconds``: the whole batch's wall time)."""
        arrays = {
            f.name: np.concatenate([getattr(o, f.name) for o in outcomes]) for f in fields(cls) if f.name != "seconds"
        }
        return cls(**arrays, seconds=seconds)


def tune_batch(
    method: str,
    seed_bars: np.ndarray,
    bars: np.ndarray,
    targets: TargetArrays,
    *,
    scorer: Scorer,
    bands: FeatureBands,
    agent: TuningAgent | None = None,
    reward: RewardConfig | None = None,
    rules: EditRules | None = None,
    keep: Sequence[str] | np.ndarray | None = None,
    budget: int = 16,
    rng: np.random.Generator | None = None,
    refine: RefineConfig | None = None,
    methods: MethodConfig | None = None,
    progress: Callable[[TrainProgress], None] | None = None,
) -> BatchOutcome:
    """Tune B (seed, bar 2) pairs with one method; see :mod:`jaki.tuner` for the methods.

    ``reward`` defaults to the agent's (so that every method optimises the same reward); ``rules`` to
    :class:`EditRules` (playable steps, anchors kept); ``keep``: parts never changed (names, or a (5,) / (B, 5) bool
    array). ``budget`` bounds the edits of greedy and random search (the agent's own budget is its ``max_edits``,
    plus the safety net's). The agent and refine methods end with the likelihood polish (skipped when
    ``reward.closeness`` is 0, as for the ablation). A batch larger than ``methods.slice_patterns`` is tuned in
    slices by ``methods.workers`` threads (agent, greedy and none).
    """
    if method not in METHODS:
        raise JakiInputError(f"tuning method {method!r}: unknown (expected one of {', '.join(METHODS)})")
    if method in ("agent", "refine") and agent is None:
        raise JakiInputError(f"tuning method {method!r} needs an agent")
    methods = methods or MethodConfig()
    seed_bars, bars = np.asarray(seed_bars), np.asarray(bars)
    keep = keep_mask(keep, len(bars))
    tune_slice = partial(
        _tune_slice,
        method,
        scorer=scorer,
        bands=bands,
        agent=agent,
        reward=reward or (agent.reward if agent else RewardConfig()),
        rules=rules,
        budget=budget,
        rng=rng or np.random.default_rng(0),
        refine=refine,
        methods=methods,
        progress=progress,
    )
    if method not in SLICED_METHODS or len(bars) <= methods.slice_patterns:
        return tune_slice(seed_bars, bars, targets, keep)
    started = time.perf_counter()
    slices = [
        np.arange(i, min(i + methods.slice_patterns, len(bars))) for i in range(0, len(bars), methods.slice_patterns)
    ]
    workers = min(methods.workers or default_workers(), len(slices))
    with ThreadPoolExecutor(workers) as pool:
        outcomes = list(
            pool.map(lambda rows: tune_slice(seed_bars[rows], bars[rows], targets.take(rows), keep[rows]), slices)
        )
    return BatchOutcome.concat(outcomes, seconds=time.perf_counter() - started)


def _tune_slice(
    method: str,
    seed_bars: np.ndarray,
    bars: np.ndarray,
    targets: TargetArrays,
    keep: np.ndarray,
    *,
    scorer: Scorer,
    bands: FeatureBands,
    agent: TuningAgent | None,
    reward: RewardConfig,
    rules: EditRules | None,
    budget: int,
    rng: np.random.Generator,
    refine: RefineConfig | None,
    methods: MethodConfig,
    progress: Callable[[TrainProgress], None] | None,
) -> BatchOutcome:
    """:func:`tune_batch` on one slice of its batch."""
    repaired = np.zeros(len(bars), dtype=np.int64)
    started = time.perf_counter()
    if method in ("agent", "refine"):
        # Between edits the agent needs no model call: its state holds the untuned bar's per-step view.
        problem = TuningProblem(scorer, bands, reward, agent.config.max_edits, rules=rules, exact_likelihood=False)
        batch = problem.start(seed_bars, bars, targets, keep=keep)
        if method == "refine":
            batch = refine_per_seed(problem, batch, agent, refine or RefineConfig(), methods, rng, progress)
        else:
            agent_episode(agent, problem, batch, checked=methods.checked, stop_margin=methods.stop_margin)
        repaired = repair(problem, batch, methods.repair_budget, methods.repair_tie_break)
        # The checked episode left exact log-likelihoods; bars the safety net touched (or any other path) are rescored.
        rescore = np.flatnonzero(repaired > 0) if method == "agent" and reward.closeness > 0 else np.arange(len(batch))
        if rescore.size:
            problem.refresh(batch, rescore, scorer(batch.seed[rescore], batch.bar[rescore]))
        if reward.closeness > 0:
            polish(problem, batch, methods)
        return _finish(problem, batch, started, repaired, exact_known=True)
    problem = TuningProblem(scorer, bands, reward, budget, rules=rules, exact_likelihood=method == "greedy")
    batch = problem.start(seed_bars, bars, targets, keep=keep)
    if method == "greedy":
        hill_climb(problem, batch, budget)
    elif method == "random":
        random_edits(problem, batch, budget, rng)
    return _finish(problem, batch, started, repaired, exact_known=method in ("greedy", "none"))


def _finish(
    problem: TuningProblem, batch: TuningBatch, started: float, repaired: np.ndarray, exact_known: bool
) -> BatchOutcome:
    likelihood = batch.log_likelihood if exact_known else problem.scorer(batch.seed, batch.bar)
    seconds = time.perf_counter() - started
    return BatchOutcome(
        bars=batch.bar.copy(),
        values=batch.values.copy(),
        met=problem.met(batch),
        requested=batch.targets.requested.copy(),
        log_likelihood=np.asarray(likelihood, dtype=np.float64).copy(),
        start_log_likelihood=batch.start_log_likelihood.copy(),
        edits=batch.edited.sum(axis=1),
        repaired=repaired,
        seconds=seconds,
    )


# --- one pattern ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Edit:
    step: int  # 0..15
    before: str  # category label
    after: str


@dataclass(frozen=True)
class TuneResult:
    """One tuned bar 2 and how it got there."""

    pattern: Pattern  # the tuned bar 2 (one bar)
    method: str
    edits: tuple[Edit, ...]  # steps that differ from the untuned bar
    values: dict[str, float]  # feature → value of the tuned bar
    met: dict[str, bool]  # requested feature → inside its band (the tuner's verdict, shown as is)
    bands: dict[str, tuple[float, float]]  # requested feature → (lo, hi)
    log_likelihood: float  # log p(tuned bar | seed), nats
    start_log_likelihood: float  # log p(untuned bar | seed)
    repaired_edits: int  # edits made by the safety net after the agent's episode
    seconds: float

    @property
    def all_met(self) -> bool:
        return all(self.met.values())


def _one_bar(pattern: Pattern, name: str) -> np.ndarray:
    if not isinstance(pattern, Pattern):
        raise JakiInputError(f"{name}: expected a Pattern")
    if pattern.n_bars != 1:
        raise JakiInputError(f"{name}: {pattern.n_bars} bars (expected one bar of {STEPS_PER_BAR} steps)")
    return pattern.categories()


def tune(
    seed_bar: Pattern,
    continuation: Pattern,
    targets: Targets,
    *,
    model: torch.nn.Module | None = None,
    scorer: Scorer | None = None,
    bands: FeatureBands | None = None,
    agent: TuningAgent | None = None,
    method: str = "agent",
    reward: RewardConfig | None = None,
    rules: EditRules | None = None,
    keep: Sequence[str] | None = None,
    budget: int = 16,
    refine: RefineConfig | None = None,
    seed: int = 0,
    progress: Callable[[TrainProgress], None] | None = None,
) -> TuneResult:
    """Edit ``continuation`` (bar 2) toward ``targets`` while keeping it likely after ``seed_bar``.

    Give the continuation model as ``model`` (a ContinuationModel) or any ``scorer``. ``agent`` defaults to the
    shipped one, whose level bands and reward are also the defaults of the other methods (pass ``bands`` and
    ``reward`` to use none). ``keep``: parts tuning never changes (e.g. ``("kick", "snare")``). On a busy machine,
    ``torch.set_num_threads(1)`` makes this one-pattern call faster.
    """
    seed_categories = _one_bar(seed_bar, "seed bar")
    bar = _one_bar(continuation, "continuation")
    if not isinstance(targets, Targets):
        raise JakiInputError("targets: expected a jaki.tuner.Targets")
    if not targets.requested():
        raise JakiInputError("targets: every feature is skipped (request at least one)")
    if scorer is None:
        if model is None:
            raise JakiInputError("tune: give the continuation model (model=) or a scorer (scorer=)")
        scorer = ModelScorer(model)
    if agent is None and (method in ("agent", "refine") or bands is None or reward is None):
        agent = load_agent()  # the shipped agent: its bands and reward are the defaults of every method
    bands = bands or agent.bands
    outcome = tune_batch(
        method,
        seed_categories[None],
        bar[None],
        target_arrays(targets, bands),
        scorer=scorer,
        bands=bands,
        agent=agent,
        reward=reward,
        rules=rules,
        keep=keep,
        budget=budget,
        rng=np.random.default_rng(seed),
        refine=refine,
        progress=progress,
    )
    tuned = outcome.bars[0]
    return TuneResult(
        pattern=Pattern.from_categories(tuned),
        method=method,
        edits=tuple(
            Edit(int(t), CATEGORY_LABELS[bar[t]], CATEGORY_LABELS[tuned[t]]) for t in np.flatnonzero(tuned != bar)
        ),
        values=dict(zip(TUNER_FEATURES, outcome.values[0].tolist(), strict=True)),
        met={f: bool(outcome.met[0, i]) for i, f in enumerate(TUNER_FEATURES) if outcome.requested[0, i]},
        bands={f: (b.lo, b.hi) for f, b in targets.bands(bands).items() if b is not None},
        log_likelihood=float(outcome.log_likelihood[0]),
        start_log_likelihood=float(outcome.start_log_likelihood[0]),
        repaired_edits=int(outcome.repaired[0]),
        seconds=outcome.seconds,
    )
