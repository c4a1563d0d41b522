"""Evaluating the tuning methods on held-out seeds × target combinations, in one run, one table.

Cases: each test seed's untuned continuation × level combinations (all 255, or a sample of ``combos`` per number of
requested features). Every method tunes the same cases; the slow ones (greedy hill-climbing scores all 512 edits
with the model at every step; refinement trains per pattern) run on a stratified subsample, and the agent is also
reported on exactly that subsample so that the comparison is paired. Per method and per number of requested
features: share of requests met, share of patterns with every request met, mean log-likelihood of the tuned bar
under the continuation model, mean edits (steps that differ from the untuned bar), and median milliseconds per
pattern, timed one pattern at a time (as ``jaki generate`` tunes) on a separate sample.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from jaki.features import FeatureBands
from jaki.tuner.dqn import TuningAgent
from jaki.tuner.methods import BatchOutcome, RefineConfig, tune_batch
from jaki.tuner.scorer import Scorer
from jaki.tuner.targets import TargetArrays, level_combinations, target_arrays

SLOW_METHODS = ("greedy", "refine")


@dataclass(frozen=True)
class MethodFigures:
    method: str
    requested_features: str  # "1".."4" or "all"
    patterns: int
    request_success: float  # share of requested features inside their band
    all_met: float  # share of patterns with every request met
    mean_log_likelihood: float  # nats, under the continuation model
    solved_log_likelihood: float | None  # the same, over the patterns with every request met (None: no such pattern)
    mean_edits: float
    repaired: float  # share of patterns the safety net had to finish (agent methods)
    median_ms: float | None  # per pattern, one at a time


@dataclass
class TunerEvaluation:
    rows: list[MethodFigures] = field(default_factory=list)
    cases: int = 0
    slow_cases: int = 0  # greedy hill-climbing's cases
    refine_cases: int = 0  # per-seed refinement's cases (a spread-out subset of greedy's)
    seeds: int = 0
    combos: int = 0
    forward_ms: float = 0.0  # median time of one scoring forward pass of the model (one pattern, teacher-forced)
    generate_ms: float | None = None  # median time of generating one continuation (16 decoder steps), if timed

    def to_json(self) -> dict:
        return asdict(self)


def evaluation_cases(
    seeds: np.ndarray, bars: np.ndarray, bands: FeatureBands, combos: int | None, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, TargetArrays]:
    """Every seed × the chosen combinations (None = all 255; n = n per number of requested features)."""
    all_targets = level_combinations()
    arrays = target_arrays(all_targets, bands)
    if combos is not None:
        arrays = arrays.take(stratified_subsample(arrays.requested.sum(axis=1), 4 * combos, rng))
    n_seeds, n_combos = len(seeds), len(arrays)
    seed_index = np.repeat(np.arange(n_seeds), n_combos)
    combo_index = np.tile(np.arange(n_combos), n_seeds)
    return seeds[seed_index], bars[seed_index], arrays.take(combo_index)


def stratified_subsample(requested_counts: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """About n/4 cases of each number of requested features, sorted."""
    chosen = []
    for k in range(1, 5):
        pool = np.flatnonzero(requested_counts == k)
        chosen.extend(rng.choice(pool, size=min(n // 4, len(pool)), replace=False).tolist())
    return np.array(sorted(chosen), dtype=np.int64)


def _figures(
    method: str, outcome: BatchOutcome, rows: np.ndarray, label: str, median_ms: float | None
) -> MethodFigures:
    requested = outcome.requested[rows]
    met = outcome.met[rows]
    solved = (met == requested).all(axis=1)
    return MethodFigures(
        method=method,
        requested_features=label,
        patterns=int(rows.size),
        request_success=float(met.sum() / max(requested.sum(), 1)),
        all_met=float(solved.mean()),
        mean_log_likelihood=float(outcome.log_likelihood[rows].mean()),
        solved_log_likelihood=float(outcome.log_likelihood[rows][solved].mean()) if solved.any() else None,
        mean_edits=float(outcome.edits[rows].mean()),
        repaired=float((outcome.repaired[rows] > 0).mean()),
        median_ms=median_ms,
    )


def _grouped(method: str, outcome: BatchOutcome, counts: np.ndarray, median_ms: float | None) -> list[MethodFigures]:
    """Figures over all patterns, then per number of requested features (groups without patterns are left out)."""
    rows = [_figures(method, outcome, np.arange(len(counts)), "all", median_ms)]
    for k in range(1, 5):
        group = np.flatnonzero(counts == k)
        if group.size:
            rows.append(_figures(method, outcome, group, str(k), None))
    return rows


def _time_per_pattern(
    run: Callable[[np.ndarray], BatchOutcome], cases: np.ndarray, forward: Callable[[int], None]
) -> float:
    """Median ms of tuning one pattern at a time; ``forward`` times the model on the same pattern just before each,
    so that the model's medians and the method's see the same machine load."""
    seconds = []
    for case in cases:
        forward(case)
        seconds.append(run(np.array([case])).seconds)
    return float(np.median(seconds) * 1e3)


def evaluate_tuner(
    scorer: Scorer,
    bands: FeatureBands,
    seeds: np.ndarray,
    bars: np.ndarray,
    *,
    agent: TuningAgent,
    ablation: TuningAgent | None = None,
    combos: int | None = None,
    slow_cases: int = 200,
    refine_cases: int = 16,
    timing_cases: int = 40,
    budget: int = 16,
    refine: RefineConfig | None = None,
    methods: tuple[str, ...] = ("none", "random", "greedy", "agent", "refine", "ablation"),
    seed: int = 0,
    generate: Callable[[np.ndarray], object] | None = None,
    progress: Callable[[str], None] | None = None,
) -> TunerEvaluation:
    """Run every method on the same cases (see the module docstring) → one row per method × requested count.

    ``generate`` (seed bars (1, 16) → a continuation), when given, is timed too: the forward pass a user waits for.
    """
    rng = np.random.default_rng(seed)
    case_seeds, case_bars, targets = evaluation_cases(seeds, bars, bands, combos, rng)
    counts = targets.requested.sum(axis=1)
    slow = {"greedy": stratified_subsample(counts, slow_cases, rng)}
    slow["refine"] = slow["greedy"][
        np.linspace(0, len(slow["greedy"]) - 1, min(refine_cases, len(slow["greedy"]))).astype(int)
    ]
    timing = stratified_subsample(counts, timing_cases, rng)
    refine = refine or RefineConfig()
    report = TunerEvaluation(
        cases=len(case_bars),
        slow_cases=int(slow["greedy"].size),
        refine_cases=int(slow["refine"].size),
        seeds=len(seeds),
        combos=len(case_bars) // max(len(seeds), 1),
    )
    forward_seconds: list[float] = []
    generate_seconds: list[float] = []

    def forward(case: int) -> None:
        forget = getattr(scorer, "forget_seed", lambda: None)  # time cold calls, and start each method's cold
        forget()
        started = time.perf_counter()
        scorer(case_seeds[case : case + 1], case_bars[case : case + 1])
        forward_seconds.append(time.perf_counter() - started)
        forget()
        if generate is not None:
            started = time.perf_counter()
            generate(case_seeds[case : case + 1])
            generate_seconds.append(time.perf_counter() - started)

    def run(method: str, rows: np.ndarray) -> BatchOutcome:
        chosen_agent = ablation if method == "ablation" else agent
        return tune_batch(
            "agent" if method == "ablation" else method,
            case_seeds[rows],
            case_bars[rows],
            targets.take(rows),
            scorer=scorer,
            bands=bands,
            agent=chosen_agent,
            # Every method but the ablation optimises the pretrained agent's reward.
            reward=chosen_agent.reward if chosen_agent else None,
            budget=budget,
            rng=np.random.default_rng(seed),
            refine=refine,
        )

    all_rows = np.arange(len(case_bars))
    for method in methods:
        if method == "ablation" and ablation is None:
            continue
        rows = slow[method] if method in SLOW_METHODS else all_rows
        if progress:
            progress(f"{method}: {rows.size} patterns")
        outcome = run(method, rows)
        pool = rows if method in SLOW_METHODS else timing
        n_timed = min(len(pool), max(4, timing_cases // (10 if method == "refine" else 1)))
        timing_rows = pool[np.linspace(0, len(pool) - 1, n_timed).astype(int)] if n_timed else pool
        median = _time_per_pattern(lambda r, m=method: run(m, r), timing_rows, forward) if timing_rows.size else None
        local_counts = counts[rows]
        report.rows.extend(_grouped(method, outcome, local_counts, median))
        if method in SLOW_METHODS and "agent" in methods:
            report.rows.extend(_grouped(f"agent (on {method}'s cases)", run("agent", rows), local_counts, None))
    report.forward_ms = float(np.median(forward_seconds) * 1e3) if forward_seconds else 0.0
    report.generate_ms = float(np.median(generate_seconds) * 1e3) if generate_seconds else None
    return report
