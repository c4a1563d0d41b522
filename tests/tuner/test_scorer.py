from __future__ import annotations

import numpy as np
import pytest
import torch

from jaki.model import ContinuationModel, ModelConfig
from jaki.tuner.scorer import ModelScorer


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
