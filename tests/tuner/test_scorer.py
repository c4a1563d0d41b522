from __future__ import annotations

import numpy as np
import pytest
import torch

from jaki.model import ContinuationModel, ModelConfig
from jaki.tuner.scorer import ModelScorer, TableScorer


@pytest.mark.parametrize("arch", ["lstm", "orig"])
def test_model_scorer_matches_the_model_with_a_kept_seed_encoding(arch):
    torch.manual_seed(0)
    model = ContinuationModel(ModelConfig(arch=arch, embed_dim=8, hidden=12, orig_encoder=(10, 6))).eval()
    scorer = ModelScorer(model, batch_size=5)
    rng = np.random.default_rng(0)
    seeds, bars = rng.integers(0, 32, (3, 16)), rng.integers(0, 32, (12, 16))
    for seed in (seeds[0], seeds[1], seeds[0]):  # the kept encoding must follow the seed
        expected = model.log_likelihood(torch.as_tensor(seed[None]), torch.as_tensor(bars)).double().numpy()
        np.testing.assert_allclose(scorer(seed[None], bars), expected, rtol=1e-6)
        with torch.no_grad():
            view = torch.log_softmax(model(torch.as_tensor(seed[None]).expand(12, -1), torch.as_tensor(bars)), -1)
        np.testing.assert_allclose(scorer.step_log_probs(seed[None], bars), view.double().numpy(), rtol=1e-6)
    many = np.repeat(seeds, 4, axis=0)
    expected = model.log_likelihood(torch.as_tensor(many), torch.as_tensor(bars)).double().numpy()
    np.testing.assert_allclose(scorer(many, bars), expected, rtol=1e-6)


@pytest.mark.parametrize("arch", ["lstm", "orig"])
def test_model_scorer_variants_equal_scoring_each_candidate_in_full(arch):
    torch.manual_seed(0)
    model = ContinuationModel(ModelConfig(arch=arch, embed_dim=8, hidden=12, orig_encoder=(10, 6))).eval()
    scorer = ModelScorer(model, batch_size=3, trace_from=2)  # bars traced and candidates scored in chunks
    rng = np.random.default_rng(1)
    seeds, bars = rng.integers(0, 32, (5, 16)), rng.integers(0, 32, (5, 16))
    seeds[3] = seeds[1]  # two bars after one seed
    base = rng.integers(0, 5, 30)
    candidates = bars[base].copy()
    candidates[np.arange(30), rng.integers(0, 16, 30)] = rng.integers(0, 32, 30)
    candidates[:10, rng.integers(0, 16)] = 0  # some change two steps, some none
    expected = scorer(seeds[base], candidates)
    np.testing.assert_allclose(scorer.variants(seeds, bars, base, candidates), expected, atol=1e-5, rtol=0)
    one = scorer.variants(seeds[:1], bars[:1], np.zeros(4, dtype=int), candidates[:4])  # one seed, kept encoding
    np.testing.assert_allclose(one, scorer(seeds[:1], candidates[:4]), atol=1e-5, rtol=0)
    few = ModelScorer(model).variants(seeds, bars, base[:10], candidates[:10])  # under trace_from: one fused pass
    np.testing.assert_allclose(few, expected[:10], atol=1e-5, rtol=0)
    scored = scorer.scored(seeds, bars)  # one pass: the bars' view, then their variants from it
    np.testing.assert_allclose(scored.step_log_probs, scorer.step_log_probs(seeds, bars), atol=1e-5, rtol=0)
    np.testing.assert_allclose(scored.variants(base, candidates), expected, atol=1e-5, rtol=0)


def test_table_scorer_variants_equal_its_full_score():
    scorer = TableScorer(np.log(np.random.default_rng(2).dirichlet(np.ones(32), size=(16, 32))))
    rng = np.random.default_rng(3)
    seeds, bars = rng.integers(0, 32, (3, 16)), rng.integers(0, 32, (3, 16))
    base = np.array([2, 0, 0, 1])
    candidates = bars[base].copy()
    candidates[:, 5] = 7
    np.testing.assert_allclose(scorer.variants(seeds, bars, base, candidates), scorer(seeds[base], candidates))
    scored = scorer.scored(seeds, bars)
    np.testing.assert_array_equal(scored.step_log_probs, scorer.step_log_probs(seeds, bars))
    np.testing.assert_allclose(scored.variants(base, candidates), scorer(seeds[base], candidates))
