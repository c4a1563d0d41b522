"""Evaluation metrics on hand-made cases: exact NLL of the copy baseline, F1 counts, histogram match."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from jaki.decoding import Decoding
from jaki.evaluation import (
    RANDOM_FLIPS,
    Contestant,
    Variation,
    conditional_table,
    copy_bar1_probs,
    evaluate,
    frequency_table,
    histogram_match,
    hit_scores,
    random_flips,
    score_step_table,
)
from jaki.model import ContinuationModel, ModelConfig
from jaki.pattern import N_CATEGORIES, PARTS, category_index

torch.set_num_threads(1)

K, S, KS, C, REST = (category_index(label) for label in ("k", "s", "ks", "c", "r"))


def test_copy_baseline_nll_on_a_tiny_example() -> None:
    bar1 = np.full((2, 16), K)
    bar2 = bar1.copy()
    bar2[1, :4] = S  # 4 of 32 steps differ from bar 1
    scores = score_step_table("copy", copy_bar1_probs(bar1), (bar1, bar2), np.random.default_rng(0))
    expected = -(28 * math.log(0.9) + 4 * math.log(0.1 / 31)) / 32
    assert scores.nll == pytest.approx(expected)
    assert scores.accuracy == pytest.approx(28 / 32)
    # Kick: predicted on all 32 steps, present on 28 → precision 28/32, recall 1. Snare: never predicted.
    assert scores.precision["kick"] == pytest.approx(28 / 32) and scores.recall["kick"] == 1.0
    assert scores.recall["snare"] == 0.0 and scores.f1["snare"] == 0.0
    assert scores.micro_f1 == pytest.approx(2 * 28 / (2 * 28 + 4 + 4))


def test_hit_scores_count_each_part_of_a_combined_category() -> None:
    predicted = np.array([[KS, K, REST, C] * 4])
    real = np.array([[K, KS, C, REST] * 4])
    precision, recall, f1, micro = hit_scores(predicted, real)
    # kick: tp 8; snare: fp 4, fn 4; closed: fp 4, fn 4.
    assert precision["kick"] == recall["kick"] == f1["kick"] == 1.0
    assert f1["snare"] == f1["closed"] == 0.0 and precision["open"] == f1["toms"] == 0.0
    assert micro == pytest.approx(2 * 8 / (2 * 8 + 8 + 8))
    assert set(f1) == set(PARTS)


def test_histogram_match() -> None:
    values = np.array([0.0, 1, 1, 2, 5])
    assert histogram_match(values, values, integer_valued=True) == pytest.approx((0.0, 1.0), abs=1e-6)
    kl, overlap = histogram_match(np.array([0.0, 0]), np.array([3.0, 3]), integer_valued=True)
    assert overlap == 0.0 and kl == pytest.approx(-math.log(1e-7 / (1 + 4e-7)))
    kl, overlap = histogram_match(np.array([0.0, 1]), np.array([0.0, 0]), integer_valued=True)
    assert overlap == pytest.approx(0.5)
    kl, overlap = histogram_match(np.array([0.1, 0.9]), np.array([0.12, 0.91]), integer_valued=False)
    assert (kl, overlap) == pytest.approx((0.0, 1.0), abs=1e-5)


def test_frequency_and_conditional_tables() -> None:
    bar1 = np.array([[K] * 16, [K] * 16, [S] * 16])
    bar2 = np.array([[S] * 16, [S] * 16, [C] * 16])
    frequencies = frequency_table(bar2)
    assert frequencies.shape == (16, N_CATEGORIES)
    assert frequencies[0, S] == pytest.approx(3 / 35) and frequencies[0, K] == pytest.approx(1 / 35)
    table = conditional_table(bar1, bar2)
    np.testing.assert_allclose(table.sum(axis=-1), 1.0)
    assert table[0, K, S] == pytest.approx((2 + 2 * 3 / 35) / 4)  # 2 counts + 2 pseudo-counts of the prior
    np.testing.assert_allclose(table[0, REST], frequencies[0])  # unseen bar-1 category → the prior


def test_evaluate_scores_models_and_baselines_in_one_run() -> None:
    rng = np.random.default_rng(0)
    train_bars = (rng.integers(0, 32, (40, 16)), rng.integers(0, 32, (40, 16)))
    eval_bars = (rng.integers(0, 32, (10, 16)), rng.integers(0, 32, (10, 16)))
    torch.manual_seed(0)
    model = ContinuationModel(ModelConfig(embed_dim=8, hidden=8)).eval()
    names = []
    report = evaluate({"jaki": model}, train_bars, eval_bars, split="test", progress=names.append)
    assert names == ["jaki", "copy bar 1", "step frequencies", "conditional table"]
    assert [row.name for row in report.rows] == [names[0], RANDOM_FLIPS, *names[1:]] and report.n_loops == 10
    # An untrained model is close to uniform: NLL ≈ ln 32.
    assert report.row("jaki").nll == pytest.approx(math.log(32), abs=0.1)
    document = report.to_json()
    assert document["rows"][0]["feature_kl"].keys() == document["rows"][0]["feature_overlap"].keys()
    assert report == evaluate({"jaki": model}, train_bars, eval_bars, split="test")  # seeded: same numbers


def test_variation_counts_copies_changes_moves_and_kept_hits() -> None:
    bar1 = np.array([[K, REST, S, REST] * 4, [K, REST, S, REST] * 4])
    bar2 = bar1.copy()
    bar2[1, 0], bar2[1, 1] = REST, K  # the second loop moves one kick a step later
    bar2[1, 2] = KS  # and adds a kick to a snare
    variation = Variation.of(bar1, bar2)
    assert variation.copies == 0.5
    assert variation.cells_changed == pytest.approx((0 + 3) / 2)
    assert variation.added["kick"] == pytest.approx(2 / 2) and variation.removed["kick"] == pytest.approx(1 / 2)
    assert variation.added["snare"] == variation.removed["snare"] == 0.0
    assert variation.kept == {"kick": pytest.approx(7 / 8), "snare": 1.0}


def test_random_flips_flip_exactly_the_asked_number_of_cells() -> None:
    rng = np.random.default_rng(0)
    bar1 = rng.integers(0, 32, (50, 16))
    flips = rng.integers(0, 12, 50)
    flipped = random_flips(bar1, flips, np.random.default_rng(1))
    from jaki.pattern import CATEGORY_PARTS

    np.testing.assert_array_equal((CATEGORY_PARTS[bar1] != CATEGORY_PARTS[flipped]).sum(axis=(1, 2)), flips)


def test_a_sampling_model_gets_a_default_row_a_most_likely_row_and_a_matched_flip_baseline() -> None:
    rng = np.random.default_rng(0)
    eval_bars = (rng.integers(0, 32, (30, 16)), rng.integers(0, 32, (30, 16)))
    torch.manual_seed(0)
    model = ContinuationModel(ModelConfig(embed_dim=8, hidden=8)).eval()
    report = evaluate({"jaki": Contestant(model, Decoding(temperature=1.0))}, None, eval_bars, split="pairs")
    names = [row.name for row in report.rows]
    assert names == ["jaki", "jaki, most likely bar", RANDOM_FLIPS, "copy bar 1"]  # no train bars: no tables
    default, flips = report.row("jaki"), report.row(RANDOM_FLIPS)
    # The baseline flips exactly as many cells per loop as the default output changed.
    assert flips.variation.cells_changed == pytest.approx(default.variation.cells_changed)
    assert flips.nll is None and report.row("copy bar 1").variation.copies == 1.0
    assert report.row("jaki").nll == report.row("jaki, most likely bar").nll
    assert report.real == Variation.of(*eval_bars)
