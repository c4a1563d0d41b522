"""Drum MIDI files in and out: the only module that talks to mido.

Reading (:func:`read_drum_midi`): the tracks of a type-0/1 file are merged in absolute ticks; the drums are the
notes on channel 10 (index 9) — or, in a file with no channel-10 notes at all, every note (drum loops exported on
another channel, like GrooveToolbox's test files), unless a program change says a channel plays a melodic instrument
(then the file is refused with a hint to name the drum channel: ``channel=``, ``--channel N``). A ``note_on`` with
velocity 0 is a note-off; only onsets matter. The file's own time-signature map cuts it into bars and its tempo map turns ticks into milliseconds. A 4/4
bar is quantised in ticks to its 16 sixteenth-note steps (each onset to the nearest step; an onset within half a
sixteenth before the next bar line is step 0 of the next bar), each note goes through the drum map to one of the
10 kit parts (several hits in one cell: the loudest wins, with its offset), and :func:`jaki.kit.fold_to_pattern`
makes the 5-part bar. Any other bar (3/4, 6/8, a bar cut short by a meter change) is reported in ``skipped``,
never bent into 16 steps. Notes the map does not know are counted by note number, never guessed (so a melodic
part in a file without channel 10 is refused as "no drum notes" unless its notes happen to be drum-map notes).
Bars run from tick 0 to the bar of the last drum note: an empty bar inside keeps its place, so consecutive bars
have consecutive indices. ``MidiBar.tempo_bpm`` is the bar's mean tempo (quarter notes per minute).

Writing (:func:`write_drum_midi`): a type-1 file, GM notes on channel 10, each hit at its grid step moved by its
offset (the timing layer, when the pattern has one; kept within half a sixteenth of its step and never before the
file's start), at 960 ticks per quarter note, so read → write → read gives back the same hits, velocities within
1/127 and offsets within half a tick (under 1 ms down to 32 bpm).
"""

from __future__ import annotations

import io
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np
from mido.midifiles.meta import KeySignatureError

from jaki.errors import JakiInputError
from jaki.io import atomic_write, read_bounded
from jaki.kit import HIT_THRESHOLD, KIT_PARTS, KIT_TO_PART, TD11_DRUM_MAP, fold_to_pattern
from jaki.pattern import PARTS, STEPS_PER_BAR, Pattern

DRUM_CHANNEL: int = 9  # MIDI channel 10, counted from 0 as mido does
DEFAULT_TEMPO_US: int = 500_000  # 120 bpm, the MIDI default when a file has no set_tempo
DEFAULT_METER: tuple[int, int] = (4, 4)  # the MIDI default when a file has no time_signature
STEPS_PER_BEAT: int = STEPS_PER_BAR // 4  # sixteenths per quarter note
MAX_FILE_BYTES: int = 2 * 1024 * 1024  # a drum MIDI file is kilobytes (GMD: 155 KB at most); 7 MB took 41 s
TEMPO_DECIMALS: int = 3  # a bar's tempo is read to 1/1000 bpm
MAX_BARS: int = 10_000  # over 5 hours of 4/4 at 120 bpm: more is a corrupt delta time, not a drum loop


class NoDrumNotes(JakiInputError):
    """A readable MIDI file without drum notes (a song with no drum track): a dataset build skips and counts it,
    where a damaged file is named as unreadable."""


# Everything mido's parser raises on a damaged file (KeyError for unknown key signatures, mido#105).
_PARSE_ERRORS = (OSError, EOFError, ValueError, KeyError, IndexError, TypeError, KeySignatureError)


@dataclass(frozen=True)
class MidiBar:
    """One 4/4 bar of a file: ``index`` is its 0-based bar number in the file, ``tempo_bpm`` its mean tempo."""

    index: int
    pattern: Pattern
    tempo_bpm: float


@dataclass(frozen=True)
class SkippedBar:
    """A bar of the file that is not a whole 4/4 bar, and why."""

    index: int
    reason: str


@dataclass(frozen=True)
class DrumMidi:
    """What :func:`read_drum_midi` found: the 4/4 bars, the others, and unmapped note number → count."""

    path: Path
    bars: tuple[MidiBar, ...]
    skipped: tuple[SkippedBar, ...]
    unmapped_notes: dict[int, int]


@dataclass(frozen=True)
class _Onsets:
    """Drum note onsets in absolute ticks, as parallel arrays; ``source`` says which channels they came from."""

    ticks: np.ndarray
    notes: np.ndarray
    velocities: np.ndarray
    source: str


@dataclass(frozen=True)
class _TempoMap:
    """Piecewise-constant tempo: from ``ticks[i]`` on, ``tempo_us[i]`` µs per quarter; ``seconds[i]`` at ``ticks[i]``."""

    ticks: np.ndarray
    tempo_us: np.ndarray
    seconds: np.ndarray
    ticks_per_beat: int

    def to_seconds(self, ticks: np.ndarray) -> np.ndarray:
        i = np.searchsorted(self.ticks, ticks, side="right") - 1
        return self.seconds[i] + (ticks - self.ticks[i]) * self.tempo_us[i] / (1e6 * self.ticks_per_beat)


@dataclass(frozen=True)
class _Bars:
    """Bar lines from the time-signature map: start tick, length in ticks, meter, and whether the bar is whole."""

    starts: np.ndarray
    lengths: np.ndarray
    meters: list[tuple[int, int]]
    whole: np.ndarray

    def first(self, n_bars: int) -> _Bars:
        return _Bars(self.starts[:n_bars], self.lengths[:n_bars], self.meters[:n_bars], self.whole[:n_bars])

    def is_four_four(self) -> np.ndarray:
        return np.array([m == (4, 4) for m in self.meters]) & self.whole


# --- reading ------------------------------------------------------------------------------------------------


def read_drum_midi(
    path: str | Path, drum_map: Mapping[int, str] | None = None, *, channel: int | None = None
) -> DrumMidi:
    """Read a drum MIDI file into 4/4 bars of :class:`Pattern` (with velocities and offsets in ms).

    ``drum_map`` maps note numbers to kit parts (:data:`jaki.kit.KIT_PARTS`); ``None`` = the Roland TD-11 map,
    a superset of General MIDI. ``channel`` (1–16) reads that channel's notes as the drums instead of channel 10.
    Raises :class:`JakiInputError` for a missing, unreadable, empty, non-MIDI or corrupt file, a file without drum
    notes, one whose only notes belong to a melodic instrument, or one without a 4/4 bar.
    """
    path = Path(path)
    return read_drum_midi_data(_read_file(path), path, drum_map, channel=channel)


def read_drum_midi_data(
    data: bytes, name: str | Path, drum_map: Mapping[int, str] | None = None, *, channel: int | None = None
) -> DrumMidi:
    """:func:`read_drum_midi` on a file's bytes (an upload to the studio): ``name`` only labels the messages."""
    if channel is not None and not 1 <= channel <= 16:
        raise JakiInputError(f"--channel {channel}: expected a MIDI channel 1..16")
    path = Path(name)
    kit_index = _kit_index_table(TD11_DRUM_MAP if drum_map is None else drum_map)
    midi = _parse(data, path)
    onsets, tempo_map, meter_changes = _collect_events(path, midi, None if channel is None else channel - 1)
    unmapped = Counter(int(n) for n in onsets.notes[kit_index[onsets.notes] < 0])
    mapped = kit_index[onsets.notes] >= 0
    if not mapped.any():
        raise NoDrumNotes(f"{path}: no drum notes ({_describe_unmapped(unmapped, onsets.source)})")
    half_step = midi.ticks_per_beat / (2 * STEPS_PER_BEAT)
    bars = _bar_lines(path, meter_changes, midi.ticks_per_beat, last_tick=int(onsets.ticks.max()) + half_step)
    # A note belongs to the bar whose start is at most half a sixteenth after it.
    note_bar = np.searchsorted(bars.starts, onsets.ticks + half_step, side="right") - 1
    n_bars = int(note_bar.max()) + 1
    bars = bars.first(n_bars)
    four_four = bars.is_four_four()
    if not four_four.any():
        meters = sorted(
            {
                f"{n}/{d}" if whole else f"incomplete {n}/{d}"
                for (n, d), whole in zip(bars.meters, bars.whole, strict=True)
            }
        )
        raise JakiInputError(f"{path}: no 4/4 bar (found {', '.join(meters)}; only 4/4 bars are read)")

    keep = mapped & four_four[note_bar]
    kit_velocities, kit_offsets = _quantise(
        onsets, keep, note_bar, kit_index, bars, tempo_map, n_bars, midi.ticks_per_beat
    )
    indices = np.flatnonzero(four_four)
    folded = fold_to_pattern(
        kit_velocities[indices].reshape(-1, len(KIT_PARTS)), kit_offsets[indices].reshape(-1, len(KIT_PARTS))
    )
    bar_seconds = tempo_map.to_seconds(bars.starts + bars.lengths) - tempo_map.to_seconds(bars.starts)
    # Rounded: MIDI stores whole microseconds per quarter note, so a file written at 95 bpm reads 94.99998.
    tempo_bpm = np.round(60.0 * (bars.lengths / midi.ticks_per_beat) / bar_seconds, TEMPO_DECIMALS)
    read_bars = tuple(MidiBar(int(index), folded.bar(i), float(tempo_bpm[index])) for i, index in enumerate(indices))
    skipped = tuple(
        SkippedBar(int(i), _skip_reason(bars, int(i), midi.ticks_per_beat)) for i in np.flatnonzero(~four_four)
    )
    return DrumMidi(path, read_bars, skipped, dict(sorted(unmapped.items())))


def _kit_index_table(drum_map: Mapping[int, str]) -> np.ndarray:
    """Note number → kit part column (−1 = unmapped), for vectorised lookup."""
    table = np.full(128, -1, dtype=np.int64)
    for note, part in drum_map.items():
        if part not in KIT_PARTS or not 0 <= int(note) <= 127:
            raise JakiInputError(f"drum map: note {note} → {part!r} (notes are 0..127, parts {', '.join(KIT_PARTS)})")
        table[int(note)] = KIT_PARTS.index(part)
    return table


def _read_file(path: Path) -> bytes:
    """The file's bytes, with every way a path can be wrong turned into one clear line."""
    return read_bounded(path, MAX_FILE_BYTES, "a MIDI file")


def _parse(data: bytes, path: Path) -> mido.MidiFile:
    """mido's parse of a file's bytes, with every way they can be wrong turned into one clear line."""
    if not data:
        raise JakiInputError(f"{path}: empty file (expected a MIDI file)")
    if not data.startswith(b"MThd"):
        raise JakiInputError(f"{path}: not a MIDI file (no MThd header)")
    try:
        midi = mido.MidiFile(file=io.BytesIO(data))
    except _PARSE_ERRORS as error:
        raise JakiInputError(f"{path}: corrupt or truncated MIDI file ({_one_line(error)})") from None
    if midi.type == 2:
        raise JakiInputError(f"{path}: type-2 MIDI file (independent sequences; expected type 0 or 1)")
    if midi.ticks_per_beat <= 0:
        raise JakiInputError(f"{path}: SMPTE or zero time division (expected ticks per quarter note)")
    return midi


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _collect_events(
    path: Path, midi: mido.MidiFile, channel: int | None
) -> tuple[_Onsets, _TempoMap, list[tuple[int, int, int]]]:
    """Merge all tracks in absolute ticks: drum onsets, the tempo map and the meter changes."""
    ticks, channels, notes, velocities = [], [], [], []
    tempos: list[tuple[int, int]] = []
    meters: list[tuple[int, int, int]] = []
    programs: dict[int, tuple[int, str]] = {}  # channel → (program, track name): a melodic instrument chosen
    for track in midi.tracks:
        tick = 0
        for message in track:
            tick += message.time
            kind = message.type
            if kind == "program_change":
                programs.setdefault(message.channel, (message.program, track.name))
            elif kind == "note_on":
                if message.velocity:
                    ticks.append(tick)
                    channels.append(message.channel)
                    notes.append(message.note)
                    velocities.append(message.velocity)
            elif kind == "set_tempo":
                tempos.append((tick, message.tempo))
            elif kind == "time_signature":
                meters.append((tick, message.numerator, message.denominator))
    if not ticks:
        raise NoDrumNotes(f"{path}: no drum notes (the file has no notes at all)")
    channel_array = np.array(channels)
    wanted = DRUM_CHANNEL if channel is None else channel
    drums = channel_array == wanted
    source = f"channel {wanted + 1}"
    if channel is not None and not drums.any():
        played = ", ".join(str(c + 1) for c in np.unique(channel_array))
        raise JakiInputError(f"{path}: no notes on channel {channel + 1} (notes are on channel {played})")
    if not drums.any():  # drum notes exported on another channel: take every note, unless an instrument is chosen
        used = [int(c) for c in np.unique(channel_array)]
        melodic = [c for c in used if c in programs]
        if melodic:
            program, name = programs[melodic[0]]
            raise NoDrumNotes(
                f"{path}: no notes on drum channel {DRUM_CHANNEL + 1}, and channel {melodic[0] + 1} plays a melodic "
                f"instrument (program {program}{f', track {name!r}' if name else ''}); if its notes are drums, "
                f"read them with --channel {melodic[0] + 1}"
            )
        drums[:] = True
        source = f"channel {', '.join(str(c + 1) for c in used)} and none on channel {DRUM_CHANNEL + 1}"
    onsets = _Onsets(
        np.array(ticks, dtype=np.int64)[drums],
        np.array(notes, dtype=np.int64)[drums],
        np.array(velocities, dtype=np.float64)[drums] / 127.0,
        source,
    )
    return onsets, _tempo_map(path, tempos, midi.ticks_per_beat), _meter_changes(path, meters)


def _tempo_map(path: Path, tempos: list[tuple[int, int]], ticks_per_beat: int) -> _TempoMap:
    changes = dict([(0, DEFAULT_TEMPO_US), *sorted(tempos, key=lambda change: change[0])])  # same tick: last wins
    if min(changes.values()) <= 0:
        raise JakiInputError(f"{path}: corrupt MIDI file (a set_tempo of 0 µs per quarter note)")
    change_ticks = np.array(list(changes), dtype=np.float64)
    tempo_us = np.array(list(changes.values()), dtype=np.float64)
    segment_seconds = np.diff(change_ticks) * tempo_us[:-1] / (1e6 * ticks_per_beat)
    seconds = np.concatenate([[0.0], np.cumsum(segment_seconds)])
    return _TempoMap(change_ticks, tempo_us, seconds, ticks_per_beat)


def _meter_changes(path: Path, meters: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """(tick, numerator, denominator) where the meter really changes; a repeated time signature is no bar line."""
    at_tick = dict([(0, DEFAULT_METER), *((t, (n, d)) for t, n, d in sorted(meters, key=lambda m: m[0]))])
    changes: list[tuple[int, int, int]] = []
    for tick, (numerator, denominator) in at_tick.items():
        if numerator <= 0:
            raise JakiInputError(f"{path}: corrupt MIDI file (time signature {numerator}/{denominator})")
        if not changes or changes[-1][1:] != (numerator, denominator):
            changes.append((tick, numerator, denominator))
    return changes


def _bar_lines(path: Path, meter_changes: list[tuple[int, int, int]], ticks_per_beat: int, last_tick: float) -> _Bars:
    """Bars from tick 0 through ``last_tick``; a meter change off a bar line cuts the bar before it short."""
    starts: list[float] = []
    lengths: list[float] = []
    meters: list[tuple[int, int]] = []
    whole: list[bool] = []
    for i, (tick, numerator, denominator) in enumerate(meter_changes):
        if tick > last_tick:
            break
        segment_end = meter_changes[i + 1][0] if i + 1 < len(meter_changes) else math.inf
        length = 4 * ticks_per_beat * numerator / denominator
        start = float(tick)
        while start < segment_end and start <= last_tick:
            if len(starts) >= MAX_BARS:
                raise JakiInputError(f"{path}: more than {MAX_BARS} bars (corrupt delta times or time signature?)")
            starts.append(start)
            lengths.append(min(length, segment_end - start))
            meters.append((numerator, denominator))
            whole.append(start + length <= segment_end)
            start += length
    return _Bars(np.array(starts), np.array(lengths), meters, np.array(whole))


def _quantise(
    onsets: _Onsets,
    keep: np.ndarray,
    note_bar: np.ndarray,
    kit_index: np.ndarray,
    bars: _Bars,
    tempo_map: _TempoMap,
    n_bars: int,
    ticks_per_beat: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(bars, 16, 10) kit velocities and offsets in ms of the kept onsets; several in one cell: the loudest."""
    ticks, bar = onsets.ticks[keep], note_bar[keep]
    velocities, parts = onsets.velocities[keep], kit_index[onsets.notes[keep]]
    step_ticks = ticks_per_beat / STEPS_PER_BEAT
    steps = np.floor((ticks - bars.starts[bar]) / step_ticks + 0.5).astype(np.int64)
    grid_ticks = bars.starts[bar] + steps * step_ticks
    offsets_ms = 1000.0 * (tempo_map.to_seconds(ticks.astype(np.float64)) - tempo_map.to_seconds(grid_ticks))
    cells = (bar * STEPS_PER_BAR + steps) * len(KIT_PARTS) + parts
    order = np.lexsort((velocities, cells))  # by cell, loudest last
    loudest = order[np.append(cells[order][1:] != cells[order][:-1], True)] if len(order) else order
    kit_velocities = np.zeros(n_bars * STEPS_PER_BAR * len(KIT_PARTS))
    kit_offsets = np.full(kit_velocities.shape, np.nan)
    kit_velocities[cells[loudest]] = velocities[loudest]
    kit_offsets[cells[loudest]] = offsets_ms[loudest]
    shape = (n_bars, STEPS_PER_BAR, len(KIT_PARTS))
    return kit_velocities.reshape(shape), kit_offsets.reshape(shape)


def _skip_reason(bars: _Bars, index: int, ticks_per_beat: int) -> str:
    numerator, denominator = bars.meters[index]
    if not bars.whole[index]:
        beats = bars.lengths[index] / ticks_per_beat
        return (
            f"incomplete {numerator}/{denominator} bar ({beats:g} quarter notes, cut short by a time signature change)"
        )
    return f"{numerator}/{denominator} bar (only 4/4 bars are read)"


def _describe_unmapped(unmapped: Counter[int], source: str) -> str:
    total = sum(unmapped.values())
    common = ", ".join(str(note) for note, _ in unmapped.most_common(5))
    return f"{total} note(s) on {source}, none in the drum map; most common note numbers: {common}"


# --- writing ------------------------------------------------------------------------------------------------

WRITE_TICKS_PER_BEAT: int = 960  # fine enough that a written offset is within 1 ms of the pattern's
_STEP_TICKS: int = WRITE_TICKS_PER_BEAT // STEPS_PER_BEAT
NOTE_TICKS: int = _STEP_TICKS - _STEP_TICKS // 8  # one sixteenth minus a little: separate notes in a DAW clip
GM_PART_NOTES: Mapping[str, int] = {"kick": 36, "snare": 38, "closed": 42, "open": 46, "toms": 45}
# The softest velocity a hit is written with, so that reading it back still finds a hit (kit.HIT_THRESHOLD).
MIN_HIT_VELOCITY: int = math.ceil(HIT_THRESHOLD * 127)
# Accents for a pattern without velocities, by metrical position: bar downbeat, beats, eighths, sixteenths.
ACCENT_VELOCITIES: tuple[int, int, int, int] = (112, 100, 84, 68)


def accent_velocities() -> np.ndarray:
    """MIDI velocity per step of a bar, when the pattern has none: louder on downbeats, softer off the beat."""
    steps = np.arange(STEPS_PER_BAR)
    level = np.where(steps == 0, 0, np.where(steps % 4 == 0, 1, np.where(steps % 2 == 0, 2, 3)))
    return np.array(ACCENT_VELOCITIES)[level]


def drum_midi_file(pattern: Pattern, *, tempo_bpm: float = 120.0, open_note: int = 46) -> mido.MidiFile:
    """The type-1 MIDI file :func:`write_drum_midi` writes: a tempo/meter track and a drum track on channel 10.

    Hits sit on the grid moved by their offsets (module docstring); a note ends after :data:`NOTE_TICKS`, at the next
    hit of the same note or at the clip's end, whichever comes first. Velocities are the pattern's (never below
    :data:`MIN_HIT_VELOCITY`) or, without a velocity layer, :func:`accent_velocities`.
    """
    tempo_us = round(60_000_000 / tempo_bpm) if math.isfinite(tempo_bpm) and tempo_bpm > 0 else 0
    if not 0 < tempo_us < 1 << 24:
        raise JakiInputError(f"tempo {tempo_bpm} bpm: out of range (MIDI can store 3.6 bpm and faster)")
    if KIT_TO_PART.get(TD11_DRUM_MAP.get(open_note, ""), "") != "open":
        open_notes = sorted(n for n, part in TD11_DRUM_MAP.items() if KIT_TO_PART[part] == "open")
        raise JakiInputError(f"open note {open_note}: not an open cymbal (use one of {open_notes}, e.g. 46 or 49)")
    notes = [{**GM_PART_NOTES, "open": open_note}[part] for part in PARTS]
    if pattern.velocities is None:
        velocities = np.tile(accent_velocities(), pattern.n_bars)[:, None].repeat(len(PARTS), axis=1)
    else:
        velocities = np.clip(np.round(pattern.velocities * 127), MIN_HIT_VELOCITY, 127).astype(int)

    end_tick = pattern.n_steps * _STEP_TICKS
    onsets = _onset_ticks(pattern, tempo_bpm)
    events: list[tuple[int, int, mido.Message]] = []  # (tick, note-offs first, message)
    for part in range(len(PARTS)):
        steps = np.flatnonzero(pattern.hits[:, part])
        ticks = onsets[steps, part]
        ends = np.minimum(np.minimum(ticks + NOTE_TICKS, np.append(ticks[1:], end_tick)), end_tick)
        for step, tick, end in zip(steps, ticks, ends, strict=True):
            note, velocity = notes[part], int(velocities[step, part])
            events.append((int(tick), 1, mido.Message("note_on", channel=DRUM_CHANNEL, note=note, velocity=velocity)))
            events.append((int(end), 0, mido.Message("note_off", channel=DRUM_CHANNEL, note=note, velocity=0)))
    events.sort(key=lambda event: event[:2])

    conductor = mido.MidiTrack(
        [
            mido.MetaMessage("track_name", name="jaki", time=0),
            mido.MetaMessage("set_tempo", tempo=tempo_us, time=0),
            mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0),
            mido.MetaMessage("end_of_track", time=end_tick),
        ]
    )
    drums = mido.MidiTrack([mido.MetaMessage("track_name", name="Drums", time=0)])
    previous = 0
    for tick, _, message in events:
        drums.append(message.copy(time=tick - previous))
        previous = tick
    drums.append(mido.MetaMessage("end_of_track", time=end_tick - previous))
    return mido.MidiFile(type=1, ticks_per_beat=WRITE_TICKS_PER_BEAT, tracks=[conductor, drums])


def _onset_ticks(pattern: Pattern, tempo_bpm: float) -> np.ndarray:
    """(steps, 5) tick of every cell: its grid step moved by its offset, within half a step, never below 0."""
    grid = (np.arange(pattern.n_steps) * _STEP_TICKS)[:, None]
    if pattern.offsets_ms is None:
        return np.broadcast_to(grid, pattern.hits.shape)
    ticks_per_ms = WRITE_TICKS_PER_BEAT * tempo_bpm / 60_000
    shift = np.round(np.nan_to_num(pattern.offsets_ms) * ticks_per_ms).astype(np.int64)
    half = _STEP_TICKS // 2 - 1  # a tick short of half a step, so the reader puts the hit back on its own step
    return np.maximum(grid + np.clip(shift, -half, half), 0)


def write_drum_midi(
    pattern: Pattern, path: Path, *, tempo_bpm: float = 120.0, open_note: int = 46, overwrite: bool = False
) -> None:
    """Write ``pattern`` as a drum MIDI file (see :func:`drum_midi_file`), atomically; refuses to overwrite
    an existing file unless ``overwrite``."""
    midi = drum_midi_file(pattern, tempo_bpm=tempo_bpm, open_note=open_note)
    atomic_write(Path(path), lambda tmp: midi.save(tmp), overwrite=overwrite)
