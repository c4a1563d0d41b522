"""Evaluating the tuning methods on held-out seeds × target combinations, in one run, one table.

Cases: each test seed's untuned continuation × level combinations (all 255, or a sample of ``combos`` per number of
requested features). Every method tunes the same cases; the slow ones (greedy hill-climbing scores all 512 edits
with the model at every step; refinement trains per pattern) run on a stratified subsample, and the agent is also
reported on exactly that subsample so that the comparison is paired. Per method and per number of requested
features: share of requests met, share of patterns with every request met, mean log-likelihood of the tuned bar
under the continuation model, mean edits (steps that differ from the untuned bar), the share of bars that lose more
than ``STEEP_LOSS_NATS`` per step against the untuned bar, and median milliseconds per pattern, timed one pattern at
a time (as ``jaki generate`` tunes) on a separate sample.

An independent judge: every method's bars are also scored by a second continuation model trained apart from the one
the tuner optimises (another seed and shape, same train split; shipped in ``jaki/assets/judge``), so a method that
only exploits the tuner's model shows up as likely under one model and not the other. And the anchors: the share of
tuned bars that keep the seed's kick on beat 1 and its backbeat snares (:func:`anchor_rates`), to set beside real
drummers' second bars.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path

import numpy as np

from jaki.errors import JakiInputError
from jaki.features import FeatureBands
from jaki.pattern import CATEGORY_PARTS, PARTS, STEPS_PER_BAR, Pattern
from jaki.tuner.dqn import TuningAgent
from jaki.tuner.methods import BatchOutcome, RefineConfig, tune_batch
from jaki.tuner.pretrain import continuations
from jaki.tuner.scorer import ModelScorer, Scorer
from jaki.tuner.targets import TargetArrays, level_combinations, target_arrays
from jaki.weights import LoadedModel, load_model

SLOW_METHODS = ("greedy", "refine")
STEEP_LOSS_NATS = 1.0  # a tuned bar losing more than this per step against the untuned one has left the model's style
SHIPPED_JUDGE = "assets/judge"  # inside the jaki package


@dataclass(frozen=True)
class MethodFigures:
    method: str
    requested_features: str  # "1".."4" or "all"
    patterns: int
    request_success: float  # share of requested features inside their band
    all_met: float  # share of patterns with every request met
    mean_log_likelihood: float  # nats, under the continuation model
    judge_log_likelihood: float | None  # nats, under the independent judge (None: no judge)
    solved_log_likelihood: float | None  # the same, over the patterns with every request met (None: no such pattern)
    mean_edits: float
    repaired: float  # share of patterns the safety net had to finish (agent methods)
    median_ms: float | None  # per pattern, one at a time
    kick_one_kept: float | None  # share of bars whose seed has a kick on beat 1 that keep it (None: no such seed)
    backbeat_kept: float | None  # the same for snares on beats 2 and 4
    steep_loss: float  # share of bars whose log p is more than STEEP_LOSS_NATS per step below the untuned bar's


@dataclass(frozen=True)
class PairedDifference:
    """The agent's log p minus another method's, case by case on that method's cases: mean and standard error
    (nats), over all of them and over those both methods meet every request of (the comparison at equal success)."""

    method: str
    cases: int
    model: tuple[float, float] | None  # (mean, standard error); None: no case
    judge: tuple[float, float] | None  # None also without a judge
    both_met: int  # cases where both methods meet every request
    both_met_model: tuple[float, float] | None
    both_met_judge: tuple[float, float] | None

    @classmethod
    def of(
        cls,
        method: str,
        agent: BatchOutcome,
        other: BatchOutcome,
        judged: tuple[np.ndarray, np.ndarray] | None,
    ) -> PairedDifference:
        """``judged``: the judge's log p of the agent's and the other method's bars (None: no judge)."""
        solved = lambda outcome: (outcome.met == outcome.requested).all(axis=1)  # noqa: E731
        both = solved(agent) & solved(other)
        model = agent.log_likelihood - other.log_likelihood
        judge = None if judged is None else judged[0] - judged[1]
        return cls(
            method=method,
            cases=len(model),
            model=_mean_and_error(model),
            judge=None if judge is None else _mean_and_error(judge),
            both_met=int(both.sum()),
            both_met_model=_mean_and_error(model[both]),
            both_met_judge=None if judge is None else _mean_and_error(judge[both]),
        )


def _mean_and_error(values: np.ndarray) -> tuple[float, float] | None:
    """(mean, standard error), None for no values (so that the report stays valid JSON)."""
    if values.size == 0:
        return None
    return (float(values.mean()), float(values.std() / np.sqrt(values.size)))


@dataclass
class TunerEvaluation:
    seed_set: str = ""  # where the seeds came from (e.g. "GMD test", "programmed")
    rows: list[MethodFigures] = field(default_factory=list)
    paired: list[PairedDifference] = field(default_factory=list)  # the agent against each slow method
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


def anchor_rates(seed_bars: np.ndarray, bars: np.ndarray) -> tuple[float | None, float | None]:
    """Share of bar 2s that keep bar 1's kick on beat 1, and its snares on beats 2 and 4 (over the pairs whose bar 1
    has them; None when none has)."""
    seed_hits, hits = CATEGORY_PARTS[seed_bars], CATEGORY_PARTS[bars]
    kick, snare = PARTS.index("kick"), PARTS.index("snare")
    has_kick = seed_hits[:, 0, kick]
    has_backbeat = seed_hits[:, 4, snare] & seed_hits[:, 12, snare]
    kept_backbeat = hits[:, 4, snare] & hits[:, 12, snare]
    return (
        float(hits[has_kick, 0, kick].mean()) if has_kick.any() else None,
        float(kept_backbeat[has_backbeat].mean()) if has_backbeat.any() else None,
    )


def programmed_seeds(path: Path) -> np.ndarray:
    """(N, 16) the distinct first bars of a programmed-pattern collection (``bardet200.json``'s layout: patterns,
    each with bars of part → grid rows), as seeds (never as training data)."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        rows = [pattern["bars"][0] for pattern in document["patterns"]]
        bars = [Pattern.from_grid("\n".join(f"{part} {row[part]}" for part in PARTS)) for row in rows]
    except (OSError, ValueError, KeyError, IndexError, TypeError) as error:
        raise JakiInputError(f"{path}: not a programmed-pattern file ({error})") from None
    return np.unique(np.stack([bar.categories() for bar in bars if bar.hits.any()]), axis=0)


def _figures(
    method: str,
    outcome: BatchOutcome,
    rows: np.ndarray,
    label: str,
    median_ms: float | None,
    seeds: np.ndarray,
    judged: np.ndarray | None,
) -> MethodFigures:
    requested = outcome.requested[rows]
    met = outcome.met[rows]
    solved = (met == requested).all(axis=1)
    kick_one, backbeat = anchor_rates(seeds[rows], outcome.bars[rows])
    loss_per_step = (outcome.start_log_likelihood[rows] - outcome.log_likelihood[rows]) / STEPS_PER_BAR
    return MethodFigures(
        method=method,
        requested_features=label,
        patterns=int(rows.size),
        request_success=float(met.sum() / max(requested.sum(), 1)),
        all_met=float(solved.mean()),
        mean_log_likelihood=float(outcome.log_likelihood[rows].mean()),
        judge_log_likelihood=float(judged[rows].mean()) if judged is not None else None,
        solved_log_likelihood=float(outcome.log_likelihood[rows][solved].mean()) if solved.any() else None,
        mean_edits=float(outcome.edits[rows].mean()),
        repaired=float((outcome.repaired[rows] > 0).mean()),
        median_ms=median_ms,
        kick_one_kept=kick_one,
        backbeat_kept=backbeat,
        steep_loss=float((loss_per_step > STEEP_LOSS_NATS).mean()),
    )


def _grouped(
    method: str,
    outcome: BatchOutcome,
    counts: np.ndarray,
    median_ms: float | None,
    seeds: np.ndarray,
    judged: np.ndarray | None,
) -> list[MethodFigures]:
    """Figures over all patterns, then per number of requested features (groups without patterns are left out);
    ``judged``: the judge's log p of each bar (None: no judge)."""
    rows = [_figures(method, outcome, np.arange(len(counts)), "all", median_ms, seeds, judged)]
    for k in range(1, 5):
        group = np.flatnonzero(counts == k)
        if group.size:
            rows.append(_figures(method, outcome, group, str(k), None, seeds, judged))
    return rows


def _judged(judge: Scorer | None, seeds: np.ndarray, outcome: BatchOutcome) -> np.ndarray | None:
    """The judge's log p of a method's bars (None without a judge)."""
    return None if judge is None else np.asarray(judge(seeds, outcome.bars), dtype=np.float64)


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
    judge: Scorer | None = None,
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
    ``judge``: a second, independently trained model that scores every method's bars too.
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
        judged = _judged(judge, case_seeds[rows], outcome)
        report.rows.extend(_grouped(method, outcome, local_counts, median, case_seeds[rows], judged))
        if method in SLOW_METHODS and "agent" in methods:
            paired = run("agent", rows)
            paired_judged = _judged(judge, case_seeds[rows], paired)
            report.rows.extend(
                _grouped(f"agent (on {method}'s cases)", paired, local_counts, None, case_seeds[rows], paired_judged)
            )
            both_judged = None if judge is None else (paired_judged, judged)
            report.paired.append(PairedDifference.of(method, paired, outcome, both_judged))
    report.forward_ms = float(np.median(forward_seconds) * 1e3) if forward_seconds else 0.0
    report.generate_ms = float(np.median(generate_seconds) * 1e3) if generate_seconds else None
    return report


@dataclass(frozen=True)
class SeedSet:
    """Seeds to evaluate on, and the condition codes their continuations are asked for (None: the plain case)."""

    name: str
    seeds: np.ndarray  # (N, 16)
    conditions: np.ndarray | None = None


def evaluate_seed_sets(
    loaded: LoadedModel,
    agent: TuningAgent,
    seed_sets: list[SeedSet],
    *,
    n_seeds: int,
    seed: int = 0,
    judge: LoadedModel | None = None,
    progress: Callable[[str], None] | None = None,
    **options,
) -> list[TunerEvaluation]:
    """One :func:`evaluate_tuner` per seed set (``n_seeds`` drawn from each with ``seed``): the continuation model's
    own bar 2s are tuned, scored by the model under the set's conditions, and by the ``judge`` when given."""
    reports = []
    for seed_set in seed_sets:
        rng = np.random.default_rng(seed)
        pool = seed_set.seeds
        chosen = pool[np.sort(rng.choice(len(pool), size=min(n_seeds, len(pool)), replace=False))]
        starts = continuations(loaded.model, chosen, sampled_share=0.0, conditions=seed_set.conditions)
        codes = None if seed_set.conditions is None else seed_set.conditions[None]
        if progress:
            progress(f"{seed_set.name}: {len(chosen)} seeds")
        report = evaluate_tuner(
            ModelScorer(loaded.model, conditions=seed_set.conditions),
            agent.bands,
            chosen,
            starts,
            agent=agent,
            judge=ModelScorer(judge.model) if judge is not None else None,
            seed=seed,
            generate=lambda bar1, codes=codes: loaded.model.generate(bar1, greedy=True, conditions=codes),
            progress=progress,
            **options,
        )
        reports.append(replace(report, seed_set=seed_set.name))
    return reports


def load_judge(directory: Path | None = None) -> LoadedModel:
    """The independent judge model (``jaki/assets/judge`` by default; any continuation model folder will do)."""
    if directory is not None:
        return load_model(directory)
    with resources.as_file(resources.files("jaki").joinpath(SHIPPED_JUDGE)) as folder:
        return load_model(folder)
