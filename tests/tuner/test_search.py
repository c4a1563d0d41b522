from __future__ import annotations

import numpy as np

from jaki.features import tuner_feature_values
from jaki.pattern import CATEGORY_LABELS, N_CATEGORIES, REST, STEPS_PER_BAR
from jaki.tuner.env import TuningProblem
from jaki.tuner.reward import RewardConfig
from jaki.tuner.scorer import TableScorer
from jaki.tuner.search import hill_climb, polish, random_edits, repair
from jaki.tuner.targets import Targets, level_combinations, target_arrays

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

    moves = polish(problem, batch, passes=3, checked=16)
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

    moves = polish(problem, batch, passes=2, checked=8)
    expected = silent[0].copy()
    expected[[3, 8]] = KICK, CYMBAL
    np.testing.assert_array_equal(batch.bar[0], expected)
    assert moves.tolist() == [1]  # the second pass finds nothing that pays
    np.testing.assert_allclose(batch.log_likelihood, scorer(batch.seed, batch.bar))
