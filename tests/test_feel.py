import numpy as np
import pytest
import torch

from jaki.errors import JakiInputError
from jaki.feel import FeelOptions, hit_list, humanized, is_quantised, perform, swing
from jaki.groove import load_groove
from jaki.midi import accent_velocities
from jaki.pattern import Pattern

TEMPO = 120.0  # a sixteenth is 125 ms


@pytest.fixture(scope="module")
def groove():
    return load_groove()


def play(groove, seed: Pattern, bars: Pattern, options: FeelOptions, seed_value: int = 0):
    generator = torch.Generator().manual_seed(seed_value)
    return perform(groove, seed, bars, None, tempo_bpm=TEMPO, options=options, generator=generator)


@pytest.mark.parametrize(("options", "message"), [({"humanize": 1.5}, "--humanize"), ({"swing": 80}, "--swing")])
def test_out_of_range_feel_is_refused(options, message):
    with pytest.raises(JakiInputError, match=message):
        FeelOptions(**options)


def test_only_humanize_0_and_straight_is_the_grid():
    assert FeelOptions(humanize=0).quantized
    assert not FeelOptions(humanize=0, swing=58).quantized and not FeelOptions().quantized


def test_swing_moves_only_the_off_beat_sixteenths(pattern_a):
    sixteenths = Pattern.from_grid(pattern_a.to_grid().replace("closed x.x.x.x.x.x.x.x.", "closed xxxxxxxxxxxxxxxx"))
    swung = swing(sixteenths, 66.0, TEMPO)
    closed = swung.offsets_ms[:, 2]
    assert np.allclose(closed[1::2], (66 / 50 - 1) * 125.0) and np.all(closed[0::2] == 0)
    assert np.allclose(swung.velocities[:, 2], accent_velocities() / 127)
    assert swing(sixteenths, 50.0, TEMPO) is sixteenths


def test_a_grid_seed_is_played_with_velocity_and_timing(groove, pattern_a, pattern_b):
    played = play(groove, pattern_a, pattern_b, FeelOptions())
    for pattern, hits in ((played.seed, pattern_a), (played.result, pattern_b)):
        assert np.array_equal(pattern.hits, hits.hits)  # the hits never change
        offsets = pattern.offsets_ms[pattern.hits]
        assert np.abs(offsets).max() > 3.0 and np.abs(offsets).max() <= 62.5
        velocities = np.round(127 * pattern.velocities[pattern.hits])
        assert len(np.unique(velocities)) > 4  # not jaki's four fixed accents
    assert played.loop.n_bars == 2


def test_same_seed_same_feel_other_seed_other_feel(groove, pattern_a, pattern_b):
    first = play(groove, pattern_a, pattern_b, FeelOptions(), seed_value=1)
    again = play(groove, pattern_a, pattern_b, FeelOptions(), seed_value=1)
    other = play(groove, pattern_a, pattern_b, FeelOptions(), seed_value=2)
    assert first.loop == again.loop and first.loop != other.loop


def test_humanize_scales_the_feel_toward_the_grid(groove, pattern_a, pattern_b):
    full = play(groove, pattern_a, pattern_b, FeelOptions(humanize=1.0))
    half = play(groove, pattern_a, pattern_b, FeelOptions(humanize=0.5))
    hits = pattern_b.hits
    np.testing.assert_allclose(half.result.offsets_ms[hits], 0.5 * full.result.offsets_ms[hits], atol=1e-4)
    accents = np.broadcast_to((accent_velocities() / 127)[:, None], hits.shape)[hits]
    middle = accents + 0.5 * (full.result.velocities[hits] - accents)
    np.testing.assert_allclose(half.result.velocities[hits], middle, atol=1e-5)
    grid = humanized(full.result, 0.0)
    assert np.all(grid.offsets_ms[hits] == 0) and np.allclose(grid.velocities[hits], accents)


def test_a_seed_with_its_own_feel_is_kept_and_heard(groove, pattern_a, pattern_b):
    late = np.where(pattern_a.hits, 30.0, np.nan)
    played_seed = Pattern(pattern_a.hits, np.where(pattern_a.hits, 0.5, 0.0), late)
    assert not is_quantised(played_seed) and is_quantised(pattern_a)
    laid_back = play(groove, played_seed, pattern_a, FeelOptions())
    assert laid_back.seed == played_seed
    on_grid = play(groove, pattern_a, pattern_a, FeelOptions())
    hits = pattern_a.hits
    # The same bar after a drummer who plays 30 ms late comes out later than after a quantised one.
    assert laid_back.result.offsets_ms[hits].mean() > on_grid.result.offsets_ms[hits].mean() + 5.0


def test_hit_list_gives_every_hit_with_its_layers(pattern_a):
    pattern = Pattern(pattern_a.hits, np.where(pattern_a.hits, 0.5, 0.0), np.where(pattern_a.hits, -2.5, np.nan))
    hits = hit_list(pattern)
    assert len(hits) == int(pattern_a.hits.sum())
    assert hits[0] == {"step": 0, "part": "kick", "velocity": 64, "offset_ms": -2.5}
    assert hit_list(pattern_a)[0]["velocity"] is None
