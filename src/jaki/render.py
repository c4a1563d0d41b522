"""Hear and see a pattern: WAV through FluidSynth with a GM soundfont, and a piano-roll PNG through matplotlib."""

from __future__ import annotations

import shutil
import subprocess
import wave
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jaki.errors import JakiInputError
from jaki.io import atomic_write
from jaki.pattern import PARTS, STEPS_PER_BAR, Pattern

# GM soundfonts as Debian installs them (timgm6mb-soundfont, fluid-soundfont-gm), best first.
SOUNDFONT_CANDIDATES: tuple[Path, ...] = (
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),
    Path("/usr/share/sounds/sf2/default-GM.sf2"),
    Path("/usr/share/soundfonts/default.sf2"),
)
SAMPLE_RATE = 44100


def find_soundfont(soundfont: Path | None = None) -> Path:
    """The given soundfont, else the first GM soundfont Debian's packages install."""
    if soundfont is not None:
        if not soundfont.is_file():
            raise JakiInputError(f"{soundfont}: soundfont not found")
        return soundfont
    for candidate in SOUNDFONT_CANDIDATES:
        if candidate.is_file():
            return candidate
    raise JakiInputError(
        "no GM soundfont found for --wav: install one (apt-get install timgm6mb-soundfont or fluid-soundfont-gm)"
    )


def render_wav(
    midi_path: Path,
    wav_path: Path,
    *,
    soundfont: Path | None = None,
    overwrite: bool = False,
    loop_seconds: float | None = None,
) -> None:
    """Render a MIDI file to a 16-bit stereo WAV with the FluidSynth command-line synthesiser.

    With ``loop_seconds`` the WAV lasts exactly that long: what rings on past the end (cymbal decays, the
    soundfont's release) is folded back onto the start, as it sounds when the loop repeats in a DAW.
    """
    fluidsynth = shutil.which("fluidsynth")
    if fluidsynth is None:
        raise JakiInputError("--wav needs FluidSynth: install it (apt-get install fluidsynth timgm6mb-soundfont)")
    font = find_soundfont(soundfont)

    def synthesise(tmp: Path) -> None:
        command = [fluidsynth, "-ni", "-q", "-g", "1.0", "-r", str(SAMPLE_RATE), "-T", "wav", "-F", str(tmp)]
        result = subprocess.run([*command, str(font), str(midi_path)], capture_output=True, text=True, check=False)
        if result.returncode != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
            raise JakiInputError(f"fluidsynth failed to render {midi_path.name}: {result.stderr.strip()[:200]}")
        if loop_seconds is not None:
            fold_to_loop(tmp, round(loop_seconds * SAMPLE_RATE))

    atomic_write(wav_path, synthesise, overwrite=overwrite)


def fold_to_loop(wav_path: Path, frames: int) -> None:
    """Rewrite a 16-bit WAV as exactly ``frames`` frames: the audio past the end is added onto the start (repeatedly,
    for a tail longer than the loop), clipped to 16 bits; a shorter file is padded with silence."""
    with wave.open(str(wav_path), "rb") as reader:
        params = reader.getparams()
        audio = np.frombuffer(reader.readframes(params.nframes), dtype="<i2").reshape(-1, params.nchannels)
    looped = np.zeros((frames, params.nchannels), dtype=np.int64)
    for start in range(0, len(audio), frames):
        piece = audio[start : start + frames]
        looped[: len(piece)] += piece
    with wave.open(str(wav_path), "wb") as writer:
        writer.setparams(params)
        writer.writeframes(np.clip(looped, -(2**15), 2**15 - 1).astype("<i2").tobytes())


def render_png(
    panels: Sequence[tuple[str, Pattern]], png_path: Path, *, tempo_bpm: float = 120.0, overwrite: bool = False
) -> None:
    """Draw patterns as drum piano rolls side by side (one panel each): every hit a cell shaded by its velocity
    (as written: the pattern's, else jaki's accents; legend on the right) and moved off its grid step by its timing
    offset at ``tempo_bpm``, with a dot on the step it belongs to, so pushed and laid-back hits show."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.collections import PatchCollection
    from matplotlib.colors import Normalize
    from matplotlib.patches import Rectangle

    from jaki.midi import MIN_HIT_VELOCITY, accent_velocities

    colours, scale = plt.get_cmap("viridis_r"), Normalize(0, 127)
    step_ms = 60_000.0 / tempo_bpm / 4
    figure, axes = plt.subplots(
        1, len(panels), figsize=(4.2 * len(panels) + 0.8, 2.6), sharey=True, squeeze=False, layout="constrained"
    )
    for axis, (title, pattern) in zip(axes[0], panels, strict=True):
        accents = np.tile(accent_velocities(), pattern.n_bars)[:, None].repeat(len(PARTS), axis=1)
        velocity = (
            accents if pattern.velocities is None else np.maximum(np.round(127 * pattern.velocities), MIN_HIT_VELOCITY)
        )
        shift = (
            np.zeros(pattern.hits.shape) if pattern.offsets_ms is None else np.nan_to_num(pattern.offsets_ms) / step_ms
        )
        steps, parts = np.nonzero(pattern.hits)
        # Narrow cells, so that an offset of a few ms moves a cell visibly against its grid dot.
        cells = [Rectangle((s + shift[s, p] - 0.2, p - 0.4), 0.4, 0.8) for s, p in zip(steps, parts, strict=True)]
        collection = PatchCollection(cells, cmap=colours, norm=scale, edgecolor="black", linewidth=0.3)
        collection.set_array(velocity[steps, parts])
        axis.add_collection(collection)
        axis.scatter(steps, parts, s=3, color="red", zorder=3, linewidths=0)
        axis.set_xlim(-0.5, pattern.n_steps - 0.5)
        axis.set_ylim(len(PARTS) - 0.5, -0.5)
        axis.set_title(title)
        axis.set_yticks(range(len(PARTS)), PARTS)
        axis.set_xticks(range(0, pattern.n_steps, 4), [str(1 + i // 4) for i in range(0, pattern.n_steps, 4)])
        axis.set_xticks(np.arange(-0.5, pattern.n_steps, 1), minor=True)
        axis.grid(which="minor", axis="x", color="#dddddd", linewidth=0.5)
        for bar_line in range(STEPS_PER_BAR, pattern.n_steps, STEPS_PER_BAR):
            axis.axvline(bar_line - 0.5, color="black", linewidth=1.2)
        axis.tick_params(which="minor", length=0)
    legend = figure.colorbar(plt.cm.ScalarMappable(norm=scale, cmap=colours), ax=axes[0].tolist(), pad=0.02)
    legend.set_label("velocity")
    figure.supxlabel("beat (red dot: the hit's grid step; its cell: where it sounds)", fontsize=8)
    atomic_write(png_path, lambda tmp: figure.savefig(tmp, format="png", dpi=110), overwrite=overwrite)
    plt.close(figure)
