import numpy as np

from jaki.pattern import Pattern
from jaki.render import render_png


def _png(tmp_path, name: str, pattern: Pattern) -> bytes:
    path = tmp_path / f"{name}.png"
    render_png([("bar", pattern)], path, tempo_bpm=120.0)
    return path.read_bytes()


def test_png_shows_velocity_and_timing(tmp_path, pattern_a):
    soft = Pattern(pattern_a.hits, np.where(pattern_a.hits, 0.3, 0.0), np.where(pattern_a.hits, 0.0, np.nan))
    loud = Pattern(pattern_a.hits, np.where(pattern_a.hits, 0.9, 0.0), soft.offsets_ms)
    late = Pattern(pattern_a.hits, soft.velocities, np.where(pattern_a.hits, 40.0, np.nan))
    images = {name: _png(tmp_path, name, p) for name, p in (("soft", soft), ("loud", loud), ("late", late))}
    assert all(image[:8] == b"\x89PNG\r\n\x1a\n" for image in images.values())
    assert images["soft"] != images["loud"]  # shaded by velocity
    assert images["soft"] != images["late"]  # drawn where it sounds
    assert _png(tmp_path, "again", soft) == images["soft"]
