"""Tuning methods behind one batched door (:func:`tune_batch`) and the one-pattern API (:func:`tune`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch

from jaki.errors import JakiInputError
from jaki.features import TUNER_FEATURES, FeatureBands
from jaki.pattern import CATEGORY_LABELS, STEPS_PER_BAR, Pattern
from jaki.tuner.agent import TuningAgent, load_agent
from jaki.tuner.env import TuningBatch, TuningProblem
from jaki.tuner.reward import RewardConfig, potential
from jaki.tuner.scorer import ModelScorer, Scorer
from jaki.tuner.search import hill_climb, polish, random_edits, repair
from jaki.tuner.targets import TargetArrays, Targets, target_arrays
from jaki.tuner.training import TrainingPool, TrainProgress, train_agent

METHODS = ("agent", "greedy", "refine", "random", "none")
REPAIR_BUDGET = 16  # safety-net edits allowed after the agent's episode
CHECKED_EDITS = 4  # the agent's best edits re-scored with the exact log-likelihood at each step
STOP_MARGIN = 0.2  # an agent's edit must be worth more than this (in reward units) to be made
POLISH_PASSES = 2  # passes of the likelihood polish after the agent's episode and the safety net
POLISH_CHECKED = 8  # polish candidates per pattern scored exactly at each pass (one batched model call)


@dataclass(frozen=True)
class RefineConfig:
    """Per-seed refinement: keep training the agent on one pattern and its targets."""

    steps: int = 100  # vectorised training steps
    n_envs: int = 16  # episodes of this pattern run side by side
    start_e: float = 0.3  # exploration restarts here (the pretrained agent already knows the task)
    explore_steps: int = 50  # ε falls linearly to the agent's end_e over these steps
    seconds: float | None = None  # wall-time budget (None: only ``steps``)


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


def _problem(scorer: Scorer, bands: FeatureBands, reward: RewardConfig, max_edits: int, exact: bool) -> TuningProblem:
    return TuningProblem(scorer, bands, reward, max_edits, exact_likelihood=exact)


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
        edits=(batch.bar != batch.start).sum(axis=1),
        repaired=repaired,
        seconds=seconds,
    )


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
    budget: int = 16,
    rng: np.random.Generator | None = None,
    refine: RefineConfig | None = None,
    progress: Callable[[TrainProgress], None] | None = None,
) -> BatchOutcome:
    """Tune B (seed, bar 2) pairs with one method; see :mod:`jaki.tuner` for the methods.

    ``reward`` defaults to the agent's (so that every method optimises the same reward); ``budget`` bounds the edits
    of greedy and random search (the agent's own budget is its ``max_edits``, plus the safety net's). The agent
    and refine methods end with the likelihood polish (:func:`jaki.tuner.search.polish`, ``POLISH_PASSES`` passes of
    ``POLISH_CHECKED`` exactly scored candidates; skipped when ``reward.closeness`` is 0, as for the ablation).
    """
    if method not in METHODS:
        raise JakiInputError(f"tuning method {method!r}: unknown (expected one of {', '.join(METHODS)})")
    if method in ("agent", "refine") and agent is None:
        raise JakiInputError(f"tuning method {method!r} needs an agent")
    reward = reward or (agent.reward if agent else RewardConfig())
    rng = rng or np.random.default_rng(0)
    repaired = np.zeros(len(bars), dtype=np.int64)
    started = time.perf_counter()
    if method in ("agent", "refine"):
        # Between edits the agent needs no model call: its state holds the untuned bar's per-step view.
        problem = _problem(scorer, bands, reward, agent.config.max_edits, exact=False)
        batch = problem.start(seed_bars, bars, targets)
        if method == "refine":
            batch = _refine(problem, batch, agent, scorer, refine or RefineConfig(), rng, progress)
        else:
            agent.run_greedy(problem, batch, checked=CHECKED_EDITS, stop_margin=STOP_MARGIN)
        repaired = repair(problem, batch, REPAIR_BUDGET)
        # The checked episode left exact log-likelihoods; bars the safety net touched (or any other path) are rescored.
        rescore = np.flatnonzero(repaired > 0) if method == "agent" and reward.closeness > 0 else np.arange(len(batch))
        if rescore.size:
            batch.log_likelihood[rescore] = scorer(batch.seed[rescore], batch.bar[rescore])
        if reward.closeness > 0:
            polish(problem, batch, POLISH_PASSES, POLISH_CHECKED)
        return _finish(problem, batch, started, repaired, exact_known=True)
    problem = _problem(scorer, bands, reward, budget, exact=method == "greedy")
    batch = problem.start(seed_bars, bars, targets)
    if method == "greedy":
        hill_climb(problem, batch, budget)
    elif method == "random":
        random_edits(problem, batch, budget, rng)
    return _finish(problem, batch, started, repaired, exact_known=method in ("greedy", "none"))


def _refine(
    problem: TuningProblem,
    batch: TuningBatch,
    agent: TuningAgent,
    scorer: Scorer,
    config: RefineConfig,
    rng: np.random.Generator,
    progress: Callable[[TrainProgress], None] | None,
) -> TuningBatch:
    """Per pattern: the pretrained agent's episode, then training on this pattern alone and another episode; the
    better of the two by the exact potential is kept."""
    results = []
    for row in range(len(batch)):
        one = np.array([row])
        seed, start, targets = batch.seed[one], batch.start[one], batch.targets.take(one)
        candidates = []
        for tuned_agent in (agent, None):
            if tuned_agent is None:
                pool = TrainingPool(seed, start, batch.step_log_probs[one])
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
                    scorer,
                    pool,
                    problem.bands,
                    config=dqn,
                    agent=agent,
                    targets=targets,
                    progress=progress,
                    time_budget_s=config.seconds,
                )
            episode = problem.start(seed, start, targets, batch.step_log_probs[one])
            tuned_agent.run_greedy(problem, episode, checked=CHECKED_EDITS, stop_margin=STOP_MARGIN)
            exact = scorer(seed, episode.bar)
            phi = potential(
                episode.values, exact, episode.start_log_likelihood, targets, problem.scales, problem.reward
            )
            candidates.append((float(phi[0]) - problem.reward.edit_cost * int((episode.bar != start).sum()), episode))
        results.append(max(candidates, key=lambda item: item[0])[1])
    return TuningBatch.concat(results)


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
    met: dict[str, bool]  # requested feature → inside its band
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
    budget: int = 16,
    refine: RefineConfig | None = None,
    seed: int = 0,
    progress: Callable[[TrainProgress], None] | None = None,
) -> TuneResult:
    """Edit ``continuation`` (bar 2) toward ``targets`` while keeping it likely after ``seed_bar``.

    Give the continuation model as ``model`` (a ContinuationModel) or any ``scorer``. ``agent`` defaults to the
    shipped one, whose level bands and reward are also the defaults of the other methods (pass ``bands`` and
    ``reward`` to use none). On a busy machine, ``torch.set_num_threads(1)`` makes this one-pattern call faster.
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
    arrays = target_arrays(targets, bands)
    outcome = tune_batch(
        method,
        seed_categories[None],
        bar[None],
        arrays,
        scorer=scorer,
        bands=bands,
        agent=agent,
        reward=reward,
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
