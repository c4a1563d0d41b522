"""Pretraining's pool: plain and programmed seeds, each scored under its own condition."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from jaki.conditions import codes_for
from jaki.dataset import LoopDataset, load_dataset
from jaki.features import bands_to_json, level_bands, tuner_feature_values
from jaki.model import ContinuationModel, ModelConfig
from jaki.pattern import CATEGORY_PARTS, PARTS, STEPS_PER_BAR
from jaki.tuner.dqn import DQNConfig
from jaki.tuner.pretrain import SeedConditionScorer, pretrain_agent, programmed_seed_bars
from jaki.tuner.scorer import ModelScorer
from jaki.weights import LoadedModel
from test_cli_model import tiny_dataset

CONDITIONS = ("programmed", "fill", "position")


def _dataset(tmp_path: Path) -> LoopDataset:
    """The CLI tests' tiny dataset with a ghost snare (velocity 0.2) on step 7 of bar 1 and loud ones on the
    backbeat."""
    dataset = load_dataset(tiny_dataset(tmp_path / "tiny.npz"))
    hits = dataset.hits.copy()
    snare = PARTS.index("snare")
    hits[:, [4, 6, 12], snare] = True
    velocities = hits.astype(np.float32)
    velocities[:, 6, snare] = 0.2
    return replace(dataset, hits=hits, velocities=velocities, offsets_ms=np.where(hits, 0.0, np.nan).astype(np.float32))


def _conditioned_model() -> ContinuationModel:
    torch.manual_seed(0)
    return ContinuationModel(ModelConfig(embed_dim=8, hidden=16, conditions=CONDITIONS)).eval()


def test_programmed_seeds_are_the_train_bar_1s_without_ghost_notes(tmp_path: Path):
    dataset = _dataset(tmp_path)
    bars = programmed_seed_bars(dataset)
    seeds, _ = dataset.training_arrays("train")
    assert bars.shape == seeds.shape
    snare = CATEGORY_PARTS[bars][..., PARTS.index("snare")]
    assert not snare[:, 6].any() and snare[:, 4].all() and snare[:, 12].all()
    other = np.ones(STEPS_PER_BAR, dtype=bool)
    other[6] = False
    np.testing.assert_array_equal(bars[:, other], seeds[:, other])


def test_each_bar_is_scored_under_its_seeds_condition():
    model = _conditioned_model()
    plain = ModelScorer(model)
    programmed = ModelScorer(model, conditions=codes_for(CONDITIONS, programmed=1))
    rng = np.random.default_rng(1)
    seeds, bars = rng.integers(0, 32, size=(4, STEPS_PER_BAR)), rng.integers(0, 32, size=(4, STEPS_PER_BAR))
    scorer = SeedConditionScorer(plain, programmed, seeds[[1, 3]])
    expected = np.where([False, True, False, True], programmed(seeds, bars), plain(seeds, bars))
    np.testing.assert_allclose(scorer(seeds, bars), expected)
    assert not np.allclose(programmed(seeds, bars), plain(seeds, bars))  # the condition changes the scores
    views = scorer.step_log_probs(seeds, bars)
    np.testing.assert_allclose(views[1], programmed.step_log_probs(seeds[1:2], bars[1:2])[0], rtol=1e-6)
    np.testing.assert_allclose(views[0], plain.step_log_probs(seeds[:1], bars[:1])[0], rtol=1e-6)
    np.testing.assert_allclose(scorer(seeds[1:2], bars), programmed(seeds[1:2], bars))  # one seed, many bars


def test_pretraining_mixes_plain_and_programmed_seeds_by_the_configured_share(tmp_path: Path):
    dataset = _dataset(tmp_path)
    bands = level_bands(tuner_feature_values(dataset.training_arrays("train")[1]))
    loaded = LoadedModel(_conditioned_model(), ModelConfig(conditions=CONDITIONS), {"bands": bands_to_json(bands)})
    small = dict(total_steps=2, n_envs=4, learning_starts=1, batch_size=8, width=16, layers=1, heads=2)
    counts = {}
    for share in (0.0, 0.5, 1.0):
        agent = pretrain_agent(loaded, dataset, config=DQNConfig(programmed_share=share, **small))
        phase = agent.metadata["training"]["phases"][-1]
        counts[share] = (phase["plain_seeds"], phase["programmed_seeds"])
    train = len(dataset.training_arrays("train")[0])
    assert counts[0.0] == (train, 0) and counts[1.0] == (0, train)
    plain, programmed = counts[0.5]
    assert 0 < programmed < train and plain > 0 and plain + programmed <= train
