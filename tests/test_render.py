"""WAV rendering: a loop's audio is exactly the loop, its tail folded back onto the start."""

from __future__ import annotations

import wave

import numpy as np

from jaki.pattern import Pattern
from jaki.render import fold_to_loop, render_png


def test_a_tail_past_the_loop_is_folded_back_onto_its_start(tmp_path):
    path = tmp_path / "t.wav"
    frames = np.arange(1, 11).repeat(2).reshape(-1, 2)  # 10 stereo frames: 1, 2, … 10
    frames[5], frames[9] = 1000, 32_000
    with wave.open(str(path), "wb") as audio:
        audio.setnchannels(2)
        audio.setsampwidth(2)
        audio.setframerate(44100)
        audio.writeframes(frames.astype("<i2").tobytes())
    fold_to_loop(path, 4)
    with wave.open(str(path)) as audio:
        assert audio.getnframes() == 4 and audio.getframerate() == 44100
        folded = np.frombuffer(audio.readframes(4), dtype="<i2").reshape(-1, 2)
    # frame 0 + frames 4 and 8; frame 1 + frames 5 and 9 (2 + 1000 + 32000, clipped to 16 bits); 2 + 6; 3 + 7
    assert folded[:, 0].tolist() == [1 + 5 + 9, 32_767, 3 + 7, 4 + 8]
    assert (folded[:, 0] == folded[:, 1]).all()


def test_a_short_file_is_padded_with_silence(tmp_path):
    path = tmp_path / "t.wav"
    with wave.open(str(path), "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(8000)
        audio.writeframes(np.array([5, -5], dtype="<i2").tobytes())
    fold_to_loop(path, 4)
    with wave.open(str(path)) as audio:
        assert np.frombuffer(audio.readframes(8), dtype="<i2").tolist() == [5, -5, 0, 0]


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
