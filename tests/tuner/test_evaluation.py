from __future__ import annotations

import numpy as np
import pytest
import torch

from jaki.features import tuner_feature_values
from jaki.pattern import CATEGORY_LABELS
from jaki.tuner import DQNConfig, TuningAgent
from jaki.tuner.dqn import QNetwork
from jaki.tuner.evaluation import PairedDifference, _figures, anchor_rates, evaluate_tuner, evaluation_cases
from jaki.tuner.methods import BatchOutcome, RefineConfig
from jaki.tuner.problem import RewardConfig, requests_met


@pytest.fixture
def agent(bands) -> TuningAgent:
    config = DQNConfig(width=32, layers=1, heads=2, action_width=32)
    torch.manual_seed(0)
    return TuningAgent(QNetwork(config), config, RewardConfig(), bands, {})


def test_cases_are_every_seed_times_every_combination(bands, pattern_a, pattern_b):
    seeds = np.stack([pattern_a.categories(), pattern_b.categories()])
    _, case_bars, _ = evaluation_cases(seeds, seeds, bands, None, np.random.default_rng(0))
    assert len(case_bars) == 2 * 255
    sampled = evaluation_cases(seeds, seeds, bands, 5, np.random.default_rng(0))[2]
    assert np.bincount(sampled.requested.sum(axis=1)).tolist() == [0, 10, 10, 10, 10]


def test_one_table_for_every_method(scorer, bands, agent, pattern_a, pattern_b):
    seeds = np.stack([pattern_a.categories(), pattern_b.categories()])
    report = evaluate_tuner(
        scorer,
        bands,
        seeds,
        seeds,
        agent=agent,
        ablation=agent,
        combos=3,
        slow_cases=8,
        timing_cases=4,
        refine=RefineConfig(steps=4, n_envs=2),
    )
    methods = {row.method for row in report.rows}
    assert methods == {
        "none",
        "random",
        "greedy",
        "agent",
        "refine",
        "ablation",
        "agent (on greedy's cases)",
        "agent (on refine's cases)",
    }
    # The untuned bars' share of met requests, computed directly.
    _, case_bars, targets = evaluation_cases(seeds, seeds, bands, 3, np.random.default_rng(0))
    untuned = requests_met(tuner_feature_values(case_bars), targets).sum() / targets.requested.sum()
    none = next(r for r in report.rows if r.method == "none" and r.requested_features == "all")
    assert none.request_success == pytest.approx(untuned) and none.mean_edits == 0 and none.steep_loss == 0
    agent_row = next(r for r in report.rows if r.method == "agent" and r.requested_features == "all")
    assert agent_row.request_success == 1.0 and agent_row.median_ms is not None
    assert report.forward_ms > 0 and report.cases == 24
    assert [(p.method, p.cases) for p in report.paired] == [("greedy", 8), ("refine", 8)]


def test_anchor_rates_count_kept_kicks_on_one_and_backbeats():
    k, s, r, ks = (CATEGORY_LABELS.index(label) for label in ("k", "s", "r", "ks"))
    seed = np.full((3, 16), r)
    seed[:, 0], seed[:, 4], seed[:, 12] = k, s, s
    seed[2, 12] = r  # no backbeat in the third seed
    bars = seed.copy()
    bars[0, 0] = r  # the kick on one dropped
    bars[1, 4] = ks  # the snare kept under a kick
    assert anchor_rates(seed, bars) == (pytest.approx(2 / 3), 1.0)
    assert anchor_rates(np.full((1, 16), r), np.full((1, 16), r)) == (None, None)


def _outcome(log_likelihood: np.ndarray, start: np.ndarray, met: np.ndarray | None = None) -> BatchOutcome:
    n = len(log_likelihood)
    return BatchOutcome(
        bars=np.zeros((n, 16), dtype=np.int64),
        values=np.zeros((n, 4)),
        met=np.ones((n, 4), dtype=bool) if met is None else met,
        requested=np.ones((n, 4), dtype=bool),
        log_likelihood=log_likelihood,
        start_log_likelihood=start,
        edits=np.ones(n, dtype=np.int64),
        repaired=np.zeros(n, dtype=np.int64),
        seconds=0.0,
    )


def test_steep_loss_is_the_share_of_bars_losing_more_than_a_nat_per_step():
    n = 4
    start = np.full(n, -10.0)
    tuned = start - np.array([0.0, 15.9, 16.1, 40.0])  # per step: 0, 0.99, 1.01, 2.5 nats lost
    outcome = _outcome(tuned, start)
    seeds = np.zeros((n, 16), dtype=np.int64)
    assert _figures("agent", outcome, np.arange(n), "all", None, seeds, None).steep_loss == 0.5
    assert _figures("agent", outcome, np.arange(2), "all", None, seeds, None).steep_loss == 0.0


def test_paired_difference_is_per_case_and_at_equal_success_on_the_cases_both_meet():
    start = np.full(4, -5.0)
    unmet = np.ones((4, 4), dtype=bool)
    unmet[3, 0] = False  # the other method misses one request of case 3, keeping a likelier bar
    agent = _outcome(np.array([-10.0, -12.0, -9.0, -11.0]), start)
    other = _outcome(np.array([-11.0, -12.0, -10.0, -6.0]), start, met=unmet)
    judged = (np.array([-1.0, -2.0, -3.0, -4.0]), np.array([-2.0, -2.0, -2.0, -2.0]))
    paired = PairedDifference.of("greedy", agent, other, judged)
    assert paired.cases == 4 and paired.both_met == 3
    assert paired.model == pytest.approx((-0.75, np.std([1.0, 0.0, 1.0, -5.0]) / 2))
    assert paired.both_met_model == pytest.approx((2 / 3, np.std([1.0, 0.0, 1.0]) / np.sqrt(3)))
    assert paired.both_met_judge == pytest.approx((0.0, np.std([1.0, 0.0, -1.0]) / np.sqrt(3)))
    assert PairedDifference.of("greedy", agent, other, None).judge is None
