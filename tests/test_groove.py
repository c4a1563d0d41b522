import json

import numpy as np
import pytest
import torch

from jaki.errors import JakiInputError
from jaki.feel import step_ms
from jaki.groove import (
    FLAG,
    N_FEATURES,
    GrooveConfig,
    GrooveData,
    GrooveModel,
    GrooveTrainConfig,
    groove_inputs,
    load_groove,
    save_groove,
    train_groove,
)
from jaki.groove_evaluation import evaluate_groove
from jaki.midi import accent_velocities
from jaki.pattern import N_PARTS, STEPS_PER_BAR


def copying_drummer(n: int, seed: int) -> GrooveData:
    """Loops whose bar 2 repeats bar 1's hits, each loop at its own loudness and lateness (each part a little
    different), with noise on every hit: a model must read a loop's feel from all of bar 1, as drummers keep it."""
    rng = np.random.default_rng(seed)
    hits = rng.random((n, 2 * STEPS_PER_BAR, N_PARTS)) < 0.35
    hits[:, STEPS_PER_BAR:] = hits[:, :STEPS_PER_BAR]
    level = rng.uniform(0.3, 0.9, (n, 1, 1)) + np.array([0.1, 0.0, -0.1, 0.05, 0.0])
    velocities = np.clip(level + rng.normal(0, 0.08, hits.shape), 0, 1) * hits
    lateness_ms = rng.normal(0, 15.0, (n, 1, 1)) + np.array([-5.0, 8.0, 0.0, 3.0, -3.0])
    offsets = np.where(hits, lateness_ms + rng.normal(0, 6.0, hits.shape), np.nan)
    tempo = rng.uniform(80, 140, n)
    return GrooveData.from_loops(hits, velocities, offsets, tempo)


def test_step_ms_is_a_sixteenth():
    assert step_ms(120.0) == pytest.approx(125.0)
    assert step_ms(60.0) == pytest.approx(250.0)


def test_inputs_hold_flag_tempo_and_position():
    data = copying_drummer(3, 0)
    inputs = data.inputs(np.array([True, False, False]))
    assert inputs.shape == (3, STEPS_PER_BAR, N_FEATURES)
    assert np.all(inputs[0, :, FLAG] == 1) and np.all(inputs[1:, :, FLAG] == 0)
    # A quantised bar 1 shows no offsets; a played one shows them in steps.
    assert np.all(inputs[0, :, 3 * N_PARTS : 4 * N_PARTS] == 0)
    late = data.bar1_hits[1, :, 1]
    expected = data.bar1_offsets[1, late, 1]
    assert np.allclose(inputs[1, late, 3 * N_PARTS + 1], expected)
    assert np.allclose(inputs[:, :, FLAG + 1], np.log2(data.tempo / 120.0)[:, None])
    assert np.array_equal(inputs[2, :, -STEPS_PER_BAR:], np.eye(STEPS_PER_BAR))


def test_on_grid_puts_bar1_on_fixed_accents():
    grid = copying_drummer(4, 1).on_grid()
    step_accents = accent_velocities() / 127
    assert np.allclose(grid.bar1_velocities, np.where(grid.bar1_hits, step_accents[None, :, None], 0.0))
    assert np.all(grid.bar1_offsets[grid.bar1_hits] == 0)


@pytest.fixture(scope="module")
def trained() -> tuple[GrooveModel, GrooveData, GrooveData]:
    torch.set_num_threads(1)
    train, validation = copying_drummer(500, 1), copying_drummer(200, 2)
    result = train_groove(
        train,
        validation,
        GrooveConfig(hidden=24, layers=1, dropout=0.0),
        GrooveTrainConfig(epochs=15, batch_size=32, learning_rate=1e-2),
    )
    assert result.best_epoch >= 1 and result.val_loss[result.best_epoch - 1] == min(result.val_loss)
    return result.model, train, validation


def test_trained_model_beats_every_baseline_on_held_out_loops(trained):
    model, train, _ = trained
    test = copying_drummer(200, 3)
    played, quantised = evaluate_groove(model, train, test, split="test")
    median = played.row("groove model (median)")
    for baseline in ("fixed accents", "part × step mean", "bar 1 copy"):
        assert median.velocity_mae < played.row(baseline).velocity_mae
        assert median.offset_mae_ms < played.row(baseline).offset_mae_ms
    # With bar 1 on the grid there is no loop feel to read: it still beats jaki's fixed accents.
    median = quantised.row("groove model (median)")
    assert median.velocity_mae < quantised.row("fixed accents").velocity_mae


def test_samples_scatter_around_the_median_as_the_real_hits_do(trained):
    model, _, validation = trained
    inputs = torch.as_tensor(validation.inputs())
    median_velocities, median_offsets = (t.numpy() for t in model.sample(inputs, temperature=0.0))
    sampled = model.sample(inputs, generator=torch.Generator().manual_seed(0), temperature=1.0)
    hits = validation.bar2_hits
    for real, median, draw in (
        (validation.bar2_velocities, median_velocities, sampled[0].numpy()),
        (validation.bar2_offsets, median_offsets, sampled[1].numpy()),
    ):
        real_scatter = np.std((real - median)[hits])
        assert np.std((draw - median)[hits]) == pytest.approx(real_scatter, rel=0.35)


def test_sampling_is_seeded(trained):
    model, _, validation = trained
    inputs = torch.as_tensor(validation.inputs()[:8])
    first = model.sample(inputs, generator=torch.Generator().manual_seed(5), temperature=1.0)
    again = model.sample(inputs, generator=torch.Generator().manual_seed(5), temperature=1.0)
    other = model.sample(inputs, generator=torch.Generator().manual_seed(6), temperature=1.0)
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(first[1], other[1])


def test_saved_model_loads_back_identically(trained, tmp_path):
    model, _, validation = trained
    model.config.velocity_temperature, model.config.quantised_offset_temperature = 0.4, 0.2
    save_groove(model, tmp_path / "groove", metadata={"note": "test"})
    loaded = load_groove(tmp_path / "groove")
    assert loaded.config == model.config
    inputs = torch.as_tensor(validation.inputs()[:4])
    assert torch.equal(model(inputs)[0].offset, loaded(inputs)[0].offset)
    assert json.loads((tmp_path / "groove" / "config.json").read_text())["note"] == "test"


def test_load_errors_are_one_line(tmp_path):
    with pytest.raises(JakiInputError, match="not a groove model folder"):
        load_groove(tmp_path)
    (tmp_path / "config.json").write_text('{"format_version": 1, "groove": {"hidden": "big"}}')
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(JakiInputError, match=r"bad groove config \('groove.hidden'"):
        load_groove(tmp_path)
    (tmp_path / "config.json").write_text('{"format_version": 1, "groove": {"layers": 99}}')
    with pytest.raises(JakiInputError, match=r"'groove.layers'"):
        load_groove(tmp_path)


def test_shipped_model_loads_and_is_small():
    model = load_groove()
    assert sum(p.numel() for p in model.parameters()) < 250_000
    c = model.config
    temperatures = (
        c.velocity_temperature,
        c.offset_temperature,
        c.quantised_velocity_temperature,
        c.quantised_offset_temperature,
    )
    assert all(0.0 <= t <= 1.0 for t in temperatures)


def test_groove_inputs_read_missing_offsets_as_zero():
    hits = np.zeros((1, STEPS_PER_BAR, N_PARTS), dtype=bool)
    hits[0, 0, 0] = True
    offsets = np.full(hits.shape, np.nan)
    inputs = groove_inputs(hits, hits * 0.5, offsets, np.array([False]), np.array([120.0]), hits)
    assert np.isfinite(inputs).all()
