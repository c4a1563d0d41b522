import numpy as np
import pytest

from conftest import GMD
from jaki.dataset import build_dataset
from jaki.groove import GrooveData, load_groove
from jaki.groove_evaluation import bar1_copy, evaluate_groove, fixed_accents, part_step_means
from jaki.midi import accent_velocities
from jaki.pattern import N_PARTS, STEPS_PER_BAR

TEMPO = 120.0  # a sixteenth is 125 ms


def two_loops() -> GrooveData:
    """Loop 0: kick on step 0 in both bars; loop 1: kick on step 0 of bar 2 only, and a snare on step 4 of bar 1."""
    hits = np.zeros((2, 2 * STEPS_PER_BAR, N_PARTS), dtype=bool)
    hits[0, [0, 16], 0] = True
    hits[1, 16, 0] = True
    hits[1, 4, 1] = True
    velocities = np.zeros(hits.shape)
    velocities[0, 0, 0], velocities[0, 16, 0], velocities[1, 16, 0], velocities[1, 4, 1] = 0.5, 0.7, 0.9, 0.6
    offsets = np.full(hits.shape, np.nan)
    offsets[0, 0, 0], offsets[0, 16, 0], offsets[1, 16, 0], offsets[1, 4, 1] = 12.5, -25.0, 25.0, 5.0
    return GrooveData.from_loops(hits, velocities, offsets, np.full(2, TEMPO))


def test_fixed_accents_are_jakis_grid():
    velocities, offsets = fixed_accents(two_loops())
    assert np.allclose(velocities[0, :, 0], accent_velocities() / 127) and np.all(offsets == 0)


def test_part_step_means_average_the_train_hits_of_each_cell():
    data = two_loops()
    velocities, offsets = part_step_means(data, data)
    assert velocities[0, 0, 0] == pytest.approx(0.8) and offsets[0, 0, 0] == pytest.approx(0.0)  # (-0.2 + 0.2) / 2
    assert velocities[1, 5, 0] == pytest.approx(0.8)  # a cell never hit falls back to the part's mean
    assert velocities[1, 5, 1] == 0.0  # a part never hit in bar 2 has nothing to go on


def test_bar1_copy_takes_bar1_where_it_has_a_hit():
    data = two_loops()
    velocities, offsets = bar1_copy(data, data)
    assert velocities[0, 0, 0] == pytest.approx(0.5) and offsets[0, 0, 0] == pytest.approx(0.1)  # 12.5 ms in steps
    assert velocities[1, 0, 0] == pytest.approx(0.8)  # no bar-1 kick in loop 1: the part × step mean


def test_maes_in_midi_units_and_milliseconds():
    data = two_loops()
    played, _ = evaluate_groove(load_groove(), data, data, split="two")
    row = played.row("fixed accents")
    assert row.velocity_mae == pytest.approx(np.mean([abs(112 - 0.7 * 127), abs(112 - 0.9 * 127)]), rel=1e-5)
    assert row.offset_mae_ms == pytest.approx(25.0)


@pytest.fixture(scope="module")
def gmd_splits() -> tuple[GrooveData, GrooveData]:
    """GMD's train and test splits, built as ``jaki dataset build`` builds them (the benchmark's data)."""
    if not GMD.is_dir():
        pytest.skip("../shared/data/gmd is absent")
    dataset, _ = build_dataset([GMD])
    return GrooveData.from_split(dataset, "train"), GrooveData.from_split(dataset, "test")


def test_shipped_model_beats_every_baseline_on_gmd_test(gmd_splits):
    """The issue's bar, under both conditions (benchmarks/groove.py prints the same table)."""
    for report in evaluate_groove(load_groove(), *gmd_splits):
        model = report.row("groove model (sampled)")
        for name in ("fixed accents", "part × step mean", "bar 1 copy"):
            baseline = report.row(name)
            assert model.velocity_mae < baseline.velocity_mae, (report.condition, name)
            assert model.offset_mae_ms < baseline.offset_mae_ms, (report.condition, name)
            assert model.mean_kl < baseline.mean_kl and model.mean_overlap > baseline.mean_overlap, (
                report.condition,
                name,
            )
        # Not the known failure: sampled velocities are about as uneven as a drummer's, timing not dead on the grid.
        for part, real in report.real_velocity_spread.items():
            assert model.velocity_spread[part] > 0.6 * real, (report.condition, part)
        for part, real in report.real_offset_spread_ms.items():
            assert model.offset_spread_ms[part] > 0.4 * real, (report.condition, part)
