"""Training: the loss goes down, a seed fixes the result, early stopping and the time budget stop the loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jaki.evaluation import frequency_table, score_model, score_step_table
from jaki.model import ModelConfig
from jaki.pattern import N_CATEGORIES
from jaki.train import TrainConfig, category_frequencies, mean_step_loss, train

torch.set_num_threads(1)

TINY_MODEL = ModelConfig(embed_dim=16, hidden=32, dropout=0.0)
FAST = TrainConfig(epochs=12, batch_size=32, learning_rate=1e-2, patience=12)


def rule_loops(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Bar 2 is a fixed function of bar 1: each step's category mapped through one permutation."""
    rng = np.random.default_rng(seed)
    mapping = np.random.default_rng(123).permutation(N_CATEGORIES)
    bar1 = rng.integers(0, 8, size=(n, 16))  # a small vocabulary, so a few hundred loops cover it
    return bar1, mapping[bar1]


@pytest.fixture(scope="module")
def trained():
    bar1, bar2 = rule_loops(256, 0)
    val1, val2 = rule_loops(64, 1)
    return train(bar1, bar2, val1, val2, TINY_MODEL, FAST)


def test_loss_goes_down_and_best_weights_are_restored(trained) -> None:
    history = trained.history
    assert len(history) == FAST.epochs and trained.stopped == "epochs"
    assert history[-1].train_loss < 0.5 * history[0].train_loss
    assert trained.best_val_loss == min(e.val_loss for e in history) < 0.5 * history[0].val_loss
    val1, val2 = rule_loops(64, 1)
    assert mean_step_loss(trained.model, torch.as_tensor(val1), torch.as_tensor(val2)) == pytest.approx(
        trained.adjusted_val_loss, rel=1e-5
    )
    assert not trained.model.training
    assert trained.summary()["epochs_run"] == FAST.epochs


def test_trained_model_beats_the_frequency_baseline_on_held_out_loops(trained) -> None:
    train_bar2 = rule_loops(256, 0)[1]
    held_out = rule_loops(128, 2)
    model = score_model("tiny", trained.model, held_out, torch.Generator().manual_seed(0))
    frequencies = np.broadcast_to(frequency_table(train_bar2), (128, 16, N_CATEGORIES))
    baseline = score_step_table("frequencies", frequencies, held_out, np.random.default_rng(0))
    assert model.nll < 0.5 * baseline.nll
    assert model.accuracy > 0.9 > baseline.accuracy
    assert model.micro_f1 > baseline.micro_f1


def test_same_seed_same_model_other_seed_other_model() -> None:
    bar1, bar2 = rule_loops(64, 0)
    config = TrainConfig(epochs=2, batch_size=16)
    runs = [train(bar1, bar2, bar1, bar2, TINY_MODEL, TrainConfig(**{**vars(config), "seed": s})) for s in (0, 0, 1)]
    states = [run.model.state_dict() for run in runs]
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    assert not all(torch.equal(states[0][k], states[2][k]) for k in states[0])
    # The caller's global generator is left alone.
    torch.manual_seed(5)
    expected = torch.rand(1)
    torch.manual_seed(5)
    train(bar1, bar2, bar1, bar2, TINY_MODEL, config)
    assert torch.equal(torch.rand(1), expected)


def test_the_logit_adjustment_is_set_from_train_frequencies_after_early_stopping() -> None:
    bar1, bar2 = rule_loops(64, 0)
    val1, val2 = rule_loops(32, 1)
    config = TrainConfig(epochs=3, batch_size=16, logit_adjustment=0.0)
    plain = train(bar1, bar2, val1, val2, TINY_MODEL, config)
    adjusted = train(bar1, bar2, val1, val2, TINY_MODEL, TrainConfig(**{**vars(config), "logit_adjustment": 0.3}))
    # Training itself is unchanged (same history, same weights); only the offset differs.
    assert [e.val_loss for e in plain.history] == [e.val_loss for e in adjusted.history]
    assert plain.adjusted_val_loss == pytest.approx(plain.best_val_loss, rel=1e-5)
    frequencies = category_frequencies(bar2)
    assert frequencies.sum() == pytest.approx(1.0) and (frequencies > 0).all()
    assert np.argmax(frequencies) == np.argmax(np.bincount(bar2.ravel(), minlength=N_CATEGORIES))
    expected = -0.3 * np.log(frequencies)
    np.testing.assert_allclose(adjusted.model.logit_offset.numpy(), expected, rtol=1e-5)
    plain_state, adjusted_state = plain.model.state_dict(), adjusted.model.state_dict()
    assert all(torch.equal(plain_state[k], adjusted_state[k]) for k in plain_state if k != "logit_offset")
    assert not plain.model.logit_offset.any()


def test_patience_and_time_budget_stop_training() -> None:
    bar1, bar2 = rule_loops(32, 0)
    noise1, noise2 = rule_loops(32, 1)
    seen = []
    # Validation pairs unrelated to training: validation loss soon stops improving.
    result = train(
        bar1,
        bar2,
        noise1,
        np.roll(noise2, 5, axis=0),
        TINY_MODEL,
        TrainConfig(epochs=200, batch_size=8, learning_rate=3e-2, patience=2),
        progress=seen.append,
    )
    assert result.stopped == "patience"
    assert len(seen) == result.best_epoch + 2 < 200
    timed = train(bar1, bar2, bar1, bar2, TINY_MODEL, TrainConfig(epochs=50, max_minutes=0.0))
    assert timed.stopped == "time" and len(timed.history) == 1
