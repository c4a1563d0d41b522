"""The ways to tune: each meets what it can, plays by the edit rules, and optimises the problem's reward."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch

from jaki.errors import JakiInputError
from jaki.features import tuner_feature_values, tuner_features
from jaki.model import ContinuationModel, ModelConfig
from jaki.pattern import CATEGORY_LABELS, CATEGORY_PARTS, N_CATEGORIES, REST, STEPS_PER_BAR, Pattern
from jaki.tuner import DQNConfig, RefineConfig, Targets, TuningAgent, tune
from jaki.tuner.dqn import QNetwork
from jaki.tuner.methods import MethodConfig, hill_climb, polish, random_edits, repair, tune_batch
from jaki.tuner.problem import RewardConfig, TuningProblem
from jaki.tuner.scorer import ModelScorer, ScoredBars, TableScorer
from jaki.tuner.targets import level_combinations, target_arrays

KICK, CYMBAL = CATEGORY_LABELS.index("k"), CATEGORY_LABELS.index("c")

REQUESTS = [
    Targets(drum_density="high", syncopation="high"),
    Targets(cymbal_density="low", repetition="low"),
    Targets(cymbal_density="high", drum_density="low", syncopation="medium", repetition="high"),
]


def _start(problem, pattern_a, pattern_b):
    starts = np.stack([pattern_a.categories(), pattern_b.categories(), pattern_a.categories()])
    return problem.start(starts, starts, target_arrays(REQUESTS, problem.bands))


def test_hill_climbing_meets_requests_and_beats_random_edits_on_likelihood(scorer, bands, pattern_a, pattern_b):
    problem = TuningProblem(scorer, bands, RewardConfig(closeness=0.1), max_edits=16)
    greedy = _start(problem, pattern_a, pattern_b)
    start_potential = greedy.potential.copy()
    hill_climb(problem, greedy, budget=16)
    assert problem.met(greedy).sum() == greedy.targets.requested.sum()
    assert np.all(greedy.potential - 0.02 * greedy.edits > start_potential)
    np.testing.assert_allclose(greedy.log_likelihood, scorer(greedy.seed, greedy.bar))

    shuffled = _start(problem, pattern_a, pattern_b)
    random_edits(problem, shuffled, budget=16, rng=np.random.default_rng(0))
    met = (problem.met(shuffled) == shuffled.targets.requested).all(axis=1)
    assert np.all(met | (shuffled.edits == 16))  # random edits stop once every request is met
    assert greedy.log_likelihood.mean() > shuffled.log_likelihood.mean()


def test_hill_climbing_stops_when_no_edit_pays(scorer, bands, pattern_a, pattern_b):
    problem = TuningProblem(scorer, bands, RewardConfig(closeness=100.0), max_edits=16)
    batch = _start(problem, pattern_a, pattern_b)
    hill_climb(problem, batch, budget=16)  # every edit costs log p ≈ 3.3 nats × 100: nothing is worth it
    assert batch.edits.tolist() == [0, 0, 0]


def test_repair_meets_every_reachable_request(scorer, bands, pattern_a, pattern_b):
    problem = TuningProblem(scorer, bands, RewardConfig(), max_edits=16, exact_likelihood=False)
    batch = _start(problem, pattern_a, pattern_b)
    made = repair(problem, batch, budget=16)
    assert problem.met(batch).sum() == batch.targets.requested.sum()
    assert made.tolist() == batch.edits.tolist() and np.all(made > 0)
    again = repair(problem, batch, budget=16)
    assert again.tolist() == [0, 0, 0]


def test_polish_keeps_met_requests_and_never_lowers_the_potential(bands, pattern_a, pattern_b):
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=2.0, size=(STEPS_PER_BAR, N_CATEGORIES, N_CATEGORIES))
    scorer = TableScorer(logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True)))
    problem = TuningProblem(scorer, bands, RewardConfig(), max_edits=16)
    combos = level_combinations()
    bars = np.stack([pattern_a.categories(), pattern_b.categories()])[np.arange(2 * len(combos)) % 2]
    batch = problem.start(bars, bars, target_arrays(combos + combos, bands))
    random_edits(problem, batch, budget=6, rng=rng)  # unlikely edits, most requests met: room to polish
    met, edits = problem.met(batch), (batch.bar != batch.start).sum(axis=1)
    before = batch.potential - problem.reward.edit_cost * edits

    moves = polish(problem, batch, MethodConfig(polish_passes=3, polish_checked=16))
    after_edits = (batch.bar != batch.start).sum(axis=1)
    after = batch.potential - problem.reward.edit_cost * after_edits
    assert np.all(problem.met(batch) >= met)  # every met request stays met
    assert np.all(after >= before - 1e-9) and np.all(after_edits <= edits + moves)  # a move adds one edit at most
    assert np.all(after[moves > 0] > before[moves > 0]) and (moves > 0).mean() > 0.5
    np.testing.assert_allclose(batch.log_likelihood, scorer(batch.seed, batch.bar))
    np.testing.assert_array_equal(batch.values, tuner_feature_values(batch.bar))


def test_polish_adds_an_edit_when_its_likelihood_pays_the_fee(bands):
    """Start: a silent bar with one edit (a cymbal at step 8). The table makes a kick at step 3 far likelier than the
    rest there; nothing is requested, so the polish's best move is to add that kick (an edit, paid for)."""
    logits = np.zeros((STEPS_PER_BAR, N_CATEGORIES, N_CATEGORIES))
    logits[:, REST, REST] = 5.0
    logits[3, REST, KICK] = 10.0
    logits[8, REST, CYMBAL] = 10.0
    scorer = TableScorer(logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True)))
    problem = TuningProblem(scorer, bands, RewardConfig(), max_edits=16)
    silent = np.full((1, STEPS_PER_BAR), REST)
    batch = problem.start(silent, silent, target_arrays([Targets()], bands))
    problem.step(batch, np.array([8 * N_CATEGORIES + CYMBAL]))
    assert batch.edits.tolist() == [1]

    moves = polish(problem, batch, MethodConfig(polish_passes=2, polish_checked=8))
    expected = silent[0].copy()
    expected[[3, 8]] = KICK, CYMBAL
    np.testing.assert_array_equal(batch.bar[0], expected)
    assert moves.tolist() == [1]  # the second pass finds nothing that pays
    np.testing.assert_allclose(batch.log_likelihood, scorer(batch.seed, batch.bar))


SMALL = dict(width=32, layers=1, heads=2, action_width=32)


@pytest.fixture
def agent(bands) -> TuningAgent:
    config = DQNConfig(**SMALL)
    torch.manual_seed(0)
    return TuningAgent(QNetwork(config), config, RewardConfig(), bands, {})


@pytest.mark.parametrize("method", ["agent", "greedy", "random", "none"])
def test_tune_result_describes_the_tuned_bar(method, scorer, bands, agent, pattern_a, pattern_b):
    targets = Targets(drum_density="high", syncopation="medium")
    result = tune(pattern_a, pattern_b, targets, scorer=scorer, bands=bands, agent=agent, method=method)
    assert result.pattern.n_bars == 1 and result.method == method
    changed = np.flatnonzero(result.pattern.categories() != pattern_b.categories())
    assert [e.step for e in result.edits] == changed.tolist()
    assert result.values == tuner_features(result.pattern)
    assert set(result.met) == {"drum_density", "syncopation"}
    for feature, met in result.met.items():
        lo, hi = result.bands[feature]
        assert met == (lo <= result.values[feature] <= hi)
    assert result.log_likelihood == pytest.approx(
        float(scorer(pattern_a.categories()[None], result.pattern.categories()[None])[0])
    )
    if method in ("agent", "greedy"):
        assert result.all_met
    elif method == "random":
        assert result.all_met or len(result.edits) == 16  # random edits stop once every request is met
    else:
        assert not result.edits and result.log_likelihood == result.start_log_likelihood


def test_refinement_reports_progress_and_meets_the_requests(scorer, bands, agent, pattern_a, pattern_b):
    seen = []
    result = tune(
        pattern_a,
        pattern_b,
        Targets(cymbal_density="low", repetition="high"),
        scorer=scorer,
        agent=agent,
        method="refine",
        refine=RefineConfig(steps=8, n_envs=4),
        progress=seen.append,
    )
    assert result.all_met
    assert seen and seen[-1].step == 8


def test_agent_methods_tune_every_combination_of_a_seed(scorer, bands, agent, pattern_b):
    combos = level_combinations()
    arrays = target_arrays(combos, bands)
    bars = np.repeat(pattern_b.categories()[None], len(combos), axis=0)
    outcome = tune_batch("agent", bars, bars, arrays, scorer=scorer, bands=bands, agent=agent)
    assert outcome.met.sum() == arrays.requested.sum()  # with the safety net, every request is met
    assert np.all(outcome.edits <= 16)


def test_bad_inputs_are_input_errors(scorer, bands, agent, pattern_a):
    two_bars = Pattern.concat([pattern_a, pattern_a])
    with pytest.raises(JakiInputError, match="2 bars"):
        tune(two_bars, pattern_a, Targets(drum_density="low"), scorer=scorer, agent=agent)
    with pytest.raises(JakiInputError, match="every feature is skipped"):
        tune(pattern_a, pattern_a, Targets(), scorer=scorer, agent=agent)
    with pytest.raises(JakiInputError, match="unknown"):
        tune(pattern_a, pattern_a, Targets(drum_density="low"), scorer=scorer, agent=agent, method="magic")
    with pytest.raises(JakiInputError, match="model"):
        tune(pattern_a, pattern_a, Targets(drum_density="low"), agent=agent)


@pytest.mark.parametrize("method", ["none", "agent", "greedy"])
def test_met_at_band_edges_for_numbers_and_levels(method, scorer, bands, agent, pattern_a):
    # 2 matching half-bar pairs over 10 sounding steps: repetition 0.4, the float top 0.39999999999999997 of 0.35's
    # band; drum density 9, the top of medium's band 7..9.
    bar = Pattern.from_grid(
        "kick x.xx....x.......\nsnare ....x.......x.x.\nclosed ......xx..x.....\nopen ................\n"
        "toms ..x...........x."
    )
    values = tuner_features(bar)
    assert values["repetition"] == 0.4 and values["drum_density"] == 9
    result = tune(
        pattern_a, bar, Targets(repetition=0.35, drum_density="medium"), scorer=scorer, agent=agent, method=method
    )
    assert result.met == {"repetition": True, "drum_density": True}
    assert not result.edits  # met already: nothing to do
    outside = tune(pattern_a, bar, Targets(drum_density="high"), scorer=scorer, agent=agent, method="none")
    assert outside.met == {"drum_density": False}


@pytest.mark.parametrize("method", ["agent", "greedy", "random", "refine"])
def test_every_method_plays_by_the_edit_rules_and_the_kept_parts(method, scorer, bands, agent, pattern_a, pattern_b):
    """Tuned steps need at most two hands and add at most one part unless untuned; kept rows and the anchors of the
    untuned bar stay."""
    crowded = pattern_b.with_step(6, "scot")  # four hands on one untuned step: it may stay, not be made
    combos = level_combinations()[: 8 if method == "refine" else 80]
    bars = np.stack([pattern_a.categories(), crowded.categories()])[np.arange(len(combos)) % 2]
    keep = np.zeros((len(combos), 5), dtype=bool)
    keep[::3, 2] = True  # every third pattern keeps its closed cymbals
    outcome = tune_batch(
        method,
        bars,
        bars,
        target_arrays(combos, bands),
        scorer=scorer,
        bands=bands,
        agent=agent,
        keep=keep,
        refine=RefineConfig(steps=4, n_envs=2),
    )
    tuned, hands = CATEGORY_PARTS[outcome.bars], CATEGORY_PARTS[:, 1:].sum(axis=1)
    assert np.all((hands[outcome.bars] <= 2) | (outcome.bars == bars))
    added = (CATEGORY_PARTS[outcome.bars] & ~CATEGORY_PARTS[bars]).sum(axis=-1)
    assert np.all(added <= 1) and (added == 1).any()
    assert outcome.edits.sum() > 0 and (hands[bars] > 2).any()
    start = CATEGORY_PARTS[bars]
    np.testing.assert_array_equal(tuned[::3, :, 2], start[::3, :, 2])
    for step, part in ((0, 0), (4, 1), (12, 1)):
        assert np.all(tuned[start[:, step, part], step, part])


class _FullScorer(ModelScorer):
    """Scores every candidate, and the polish's view, with the full forward pass (what a decoder trace saves)."""

    def variants(self, seed_bars, bars, base, candidates):
        return self(np.asarray(seed_bars)[base], candidates)

    def scored(self, seed_bars, bars):
        return ScoredBars(self.step_log_probs(seed_bars, bars), partial(self.variants, seed_bars, bars))


@pytest.mark.parametrize("method", ["agent", "greedy"])
def test_candidates_scored_from_a_decoder_trace_tune_as_scoring_each_in_full(
    method, bands, agent, pattern_a, pattern_b
):
    """The agent's checked edits, the polish and greedy score their candidates with ``scorer.variants``; under a small
    LSTM the traced scorer ends on the same bars and log p as one that runs the model on every candidate."""
    torch.manual_seed(0)
    model = ContinuationModel(ModelConfig(embed_dim=8, hidden=12)).eval()
    combos = level_combinations()[::8]
    arrays = target_arrays(combos, bands)
    seeds = np.repeat(pattern_a.categories()[None], len(combos), axis=0)
    bars = np.repeat(pattern_b.categories()[None], len(combos), axis=0)
    outcomes = [
        tune_batch(method, seeds, bars, arrays, scorer=scorer, bands=bands, agent=agent)
        for scorer in (ModelScorer(model, trace_from=1), _FullScorer(model))
    ]
    assert (outcomes[0].bars != bars).any()  # the tuner edited
    np.testing.assert_array_equal(outcomes[0].bars, outcomes[1].bars)
    np.testing.assert_allclose(outcomes[0].log_likelihood, outcomes[1].log_likelihood, atol=1e-4, rtol=0)


@pytest.mark.parametrize("method", ["agent", "greedy", "none"])
def test_a_batch_tuned_in_slices_by_threads_equals_one_call(method, bands, agent, pattern_a, pattern_b):
    """Slices of a large batch are tuned by worker threads sharing one LSTM scorer: the outcome is the same for any
    number of workers, and the same as tuning the whole batch at once."""
    torch.manual_seed(0)
    scorer = ModelScorer(ContinuationModel(ModelConfig(embed_dim=8, hidden=12)).eval(), trace_from=1)
    combos = level_combinations()[::8]
    arrays = target_arrays(combos, bands)
    seeds = np.stack([pattern_a.categories(), pattern_b.categories()])[np.arange(len(combos)) % 2]
    bars = seeds[::-1].copy()
    outcomes = [
        tune_batch(
            method,
            seeds,
            bars,
            arrays,
            scorer=scorer,
            bands=bands,
            agent=agent,
            methods=MethodConfig(slice_patterns=slice_patterns, workers=workers),
        )
        for slice_patterns, workers in ((len(combos), 1), (7, 1), (7, 3))
    ]
    whole, *sliced = outcomes
    assert method == "none" or (whole.bars != bars).any()
    for outcome in sliced:
        for name in ("bars", "values", "met", "requested", "edits", "repaired", "start_log_likelihood"):
            np.testing.assert_array_equal(getattr(outcome, name), getattr(whole, name))
        np.testing.assert_allclose(outcome.log_likelihood, whole.log_likelihood, atol=1e-5, rtol=0)
    np.testing.assert_array_equal(sliced[0].log_likelihood, sliced[1].log_likelihood)
