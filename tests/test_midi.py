import csv
import json
from pathlib import Path

import mido
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jaki.errors import JakiInputError
from jaki.kit import BFD3_DRUM_MAP, HIT_THRESHOLD, load_drum_map
from jaki.midi import (
    DRUM_CHANNEL,
    MIN_HIT_VELOCITY,
    NOTE_TICKS,
    WRITE_TICKS_PER_BEAT,
    DrumMidi,
    accent_velocities,
    read_drum_midi,
    write_drum_midi,
)
from jaki.pattern import N_PARTS, STEPS_PER_BAR, Pattern

TPB = 480
BAR = 4 * TPB
STEP = TPB // 4


def bfd3_map_file(folder: Path) -> Path:
    """BFD3's note map (the one GrooveToolbox's MIDI loops use) as a user drum-map file."""
    path = folder / "bfd3.json"
    path.write_text(json.dumps({str(note): part for note, part in BFD3_DRUM_MAP.items()}))
    return path


def midi_file(
    path: Path,
    notes: list[tuple[int, int, int]],
    *,
    meta: list[tuple[int, mido.MetaMessage]] = (),
    channel: int = DRUM_CHANNEL,
    midi_type: int = 1,
    end_tick: int | None = None,
) -> Path:
    """Write a file: notes (tick, note, velocity) on ``channel`` plus meta messages at given ticks."""
    events = [(tick, 0, message) for tick, message in meta]
    for tick, note, velocity in notes:
        events.append((tick, 1, mido.Message("note_on", channel=channel, note=note, velocity=velocity)))
        events.append((tick + 60, 0, mido.Message("note_on", channel=channel, note=note, velocity=0)))
    events.sort(key=lambda e: e[:2])
    track, previous = mido.MidiTrack(), 0
    for tick, _, message in events:
        track.append(message.copy(time=tick - previous))
        previous = tick
    track.append(mido.MetaMessage("end_of_track", time=max(0, (end_tick or previous) - previous)))
    mido.MidiFile(type=midi_type, ticks_per_beat=TPB, tracks=[track]).save(path)
    return path


def tempo(tick: int, bpm: float) -> tuple[int, mido.MetaMessage]:
    return tick, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))


def meter(tick: int, numerator: int, denominator: int) -> tuple[int, mido.MetaMessage]:
    return tick, mido.MetaMessage("time_signature", numerator=numerator, denominator=denominator)


def whole_pattern(drum_midi: DrumMidi) -> Pattern:
    return Pattern.concat([bar.pattern for bar in drum_midi.bars])


# --- writing and reading back -------------------------------------------------------------------------------


def test_pattern_a_written_and_read_back(tmp_path, pattern_a):
    path = tmp_path / "a.mid"
    write_drum_midi(pattern_a, path)
    drum_midi = read_drum_midi(path)
    assert [bar.index for bar in drum_midi.bars] == [0]
    bar = drum_midi.bars[0]
    assert bar.pattern.binary() == pattern_a
    assert bar.tempo_bpm == pytest.approx(120.0)
    expected = np.where(pattern_a.hits, np.round(accent_velocities())[:, None] / 127, 0)
    np.testing.assert_allclose(bar.pattern.velocities, expected, atol=1e-6)
    assert np.all(bar.pattern.offsets_ms[pattern_a.hits] == 0)
    assert drum_midi.skipped == () and drum_midi.unmapped_notes == {}


def test_written_file_is_a_clean_gm_drum_clip(tmp_path, pattern_b):
    path = tmp_path / "b.mid"
    write_drum_midi(pattern_b, path, tempo_bpm=95.0, open_note=49)
    midi = mido.MidiFile(path)
    assert midi.type == 1
    messages = [m for track in midi.tracks for m in track]
    assert [m.tempo for m in messages if m.type == "set_tempo"] == [mido.bpm2tempo(95.0)]
    assert [(m.numerator, m.denominator) for m in messages if m.type == "time_signature"] == [(4, 4)]
    assert any(m.type == "track_name" for m in messages)
    drum_track = midi.tracks[1]
    ticks, onsets, lengths = 0, [], []
    started: dict[int, int] = {}
    for message in drum_track:
        ticks += message.time
        if message.type == "note_on" and message.velocity:
            assert message.channel == DRUM_CHANNEL
            onsets.append(message.note)
            started[message.note] = ticks
        elif message.type in ("note_off", "note_on"):
            lengths.append(ticks - started.pop(message.note))
    assert sorted(set(onsets)) == [36, 38, 42, 45, 49]
    assert len(onsets) == int(pattern_b.hits.sum())
    assert set(lengths) == {NOTE_TICKS} and NOTE_TICKS < WRITE_TICKS_PER_BEAT // 4
    assert ticks == 4 * WRITE_TICKS_PER_BEAT  # the clip is exactly one bar long
    read = read_drum_midi(path)
    assert read.bars[0].pattern.binary() == pattern_b
    assert read.bars[0].tempo_bpm == pytest.approx(95.0, rel=1e-5)


def gmd_like_bars(rng: np.random.Generator, n_bars: int, tempo_bpm: float) -> Pattern:
    """Bars with GMD's spread of playing: dense hats, any velocity, offsets up to almost half a sixteenth."""
    hits = rng.random((n_bars * STEPS_PER_BAR, N_PARTS)) < np.array([0.25, 0.3, 0.6, 0.1, 0.1])
    velocities = rng.uniform(MIN_HIT_VELOCITY / 127, 1.0, hits.shape)
    half_step_ms = 60_000 / tempo_bpm / 8
    offsets = np.clip(rng.normal(-8.0, 26.0, hits.shape), -0.98 * half_step_ms, 0.98 * half_step_ms)
    offsets[0] = np.abs(offsets[0])  # nothing can sound before the file starts
    return Pattern(hits, velocities, offsets)


@pytest.mark.parametrize("tempo_bpm", [50.0, 82.0, 110.0, 182.0, 290.0])  # GMD's tempo range and percentiles
def test_round_trip_keeps_hits_velocities_and_offsets(tmp_path, tempo_bpm):
    rng = np.random.default_rng(int(tempo_bpm))
    pattern = gmd_like_bars(rng, 8, tempo_bpm)
    path = tmp_path / "played.mid"
    write_drum_midi(pattern, path, tempo_bpm=tempo_bpm)
    read = whole_pattern(read_drum_midi(path))
    assert np.array_equal(read.hits, pattern.hits)
    assert np.abs(read.velocities - pattern.velocities)[pattern.hits].max() <= 1 / 127
    assert np.abs(read.offsets_ms - pattern.offsets_ms)[pattern.hits].max() < 1.0


def test_offsets_beyond_half_a_step_stay_on_their_step(tmp_path):
    hits = np.zeros((16, N_PARTS), dtype=bool)
    hits[[3, 15], 2] = True
    offsets = np.full(hits.shape, np.nan)
    offsets[3, 2], offsets[15, 2] = -500.0, 500.0  # far outside the step: clamped to just inside it
    path = tmp_path / "edge.mid"
    write_drum_midi(Pattern(hits, offsets_ms=offsets), path, tempo_bpm=120.0)
    read = read_drum_midi(path).bars[0].pattern
    assert np.array_equal(read.hits, hits)
    half_step_ms = 60_000 / 120 / 8
    assert -half_step_ms < read.offsets_ms[3, 2] < -0.9 * half_step_ms
    assert 0.9 * half_step_ms < read.offsets_ms[15, 2] < half_step_ms
    midi = mido.MidiFile(path)
    assert sum(m.time for m in midi.tracks[1]) == 4 * WRITE_TICKS_PER_BEAT  # the late last note ends with the clip


def test_default_accents_are_louder_on_the_beat():
    velocities = accent_velocities()
    assert velocities[0] > velocities[4] > velocities[2] > velocities[1]
    assert velocities.min() >= MIN_HIT_VELOCITY


def test_soft_hits_are_written_loud_enough_to_read_back_as_hits(tmp_path):
    hits = np.zeros((16, N_PARTS), dtype=bool)
    hits[0, 0] = hits[4, 1] = True
    velocities = np.where(hits, 0.05, 0.0)
    path = tmp_path / "soft.mid"
    write_drum_midi(Pattern(hits, velocities), path)
    read = read_drum_midi(path).bars[0].pattern
    assert np.array_equal(read.hits, hits)
    assert read.velocities[0, 0] == pytest.approx(MIN_HIT_VELOCITY / 127)
    assert MIN_HIT_VELOCITY / 127 >= HIT_THRESHOLD


def test_writer_refuses_to_overwrite_and_checks_its_options(tmp_path, pattern_a):
    path = tmp_path / "a.mid"
    write_drum_midi(pattern_a, path)
    with pytest.raises(JakiInputError, match="exists"):
        write_drum_midi(pattern_a, path)
    write_drum_midi(pattern_a, path, overwrite=True, tempo_bpm=140)
    with pytest.raises(JakiInputError, match="not an open cymbal"):
        write_drum_midi(pattern_a, tmp_path / "x.mid", open_note=36)
    with pytest.raises(JakiInputError, match="tempo"):
        write_drum_midi(pattern_a, tmp_path / "x.mid", tempo_bpm=0)
    assert not (tmp_path / "x.mid").exists()


reader_velocities = st.integers(min_value=MIN_HIT_VELOCITY, max_value=127).map(lambda v: v / 127)


@st.composite
def read_patterns(draw) -> Pattern:
    """Patterns like the reader makes: 1–3 bars, last bar not empty, hit velocities at or above the threshold."""
    n_bars = draw(st.integers(1, 3))
    hits = np.array(draw(st.lists(st.booleans(), min_size=n_bars * 80, max_size=n_bars * 80))).reshape(-1, N_PARTS)
    hits[-1 - draw(st.integers(0, STEPS_PER_BAR - 1)), draw(st.integers(0, N_PARTS - 1))] = True
    velocities = np.array(draw(st.lists(reader_velocities, min_size=hits.size, max_size=hits.size)))
    return Pattern(hits, velocities.reshape(hits.shape))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pattern=read_patterns(), bpm=st.floats(40, 300))
def test_write_read_round_trip(tmp_path, pattern, bpm):
    path = tmp_path / "round.mid"
    write_drum_midi(pattern, path, tempo_bpm=bpm, overwrite=True)
    drum_midi = read_drum_midi(path)
    assert [bar.index for bar in drum_midi.bars] == list(range(pattern.n_bars))
    back = whole_pattern(drum_midi)
    assert np.array_equal(back.hits, pattern.hits)
    assert np.abs(back.velocities - pattern.velocities).max() <= 1 / 127
    assert all(bar.tempo_bpm == pytest.approx(bpm, rel=1e-4) for bar in drum_midi.bars)


# --- reading: grid, tempo map, meters ----------------------------------------------------------------------


def test_offsets_follow_the_tempo_map(tmp_path):
    # 120 bpm in bar 0, 60 bpm from bar 1: the same 12 ticks late is twice as many ms in bar 1.
    notes = [(0 + 12, 36, 100), (BAR + 12, 36, 100), (BAR + 4 * STEP - 12, 38, 100)]
    path = midi_file(tmp_path / "t.mid", notes, meta=[tempo(0, 120), tempo(BAR, 60)])
    bars = read_drum_midi(path).bars
    assert [bar.tempo_bpm for bar in bars] == pytest.approx([120.0, 60.0])
    assert bars[0].pattern.offsets_ms[0, 0] == pytest.approx(12 / TPB * 500)
    assert bars[1].pattern.offsets_ms[0, 0] == pytest.approx(12 / TPB * 1000)
    assert bars[1].pattern.offsets_ms[4, 1] == pytest.approx(-12 / TPB * 1000)


def test_tempo_change_inside_a_bar_gives_its_mean_tempo(tmp_path):
    path = midi_file(tmp_path / "t.mid", [(0, 36, 100), (3 * TPB, 36, 100)], meta=[tempo(0, 120), tempo(2 * TPB, 60)])
    bar = read_drum_midi(path).bars[0]
    assert bar.tempo_bpm == pytest.approx(60 * 4 / (2 * 0.5 + 2 * 1.0))
    assert bar.pattern.offsets_ms[12, 0] == 0


def test_three_four_bar_is_skipped_not_bent(tmp_path):
    three_four = 3 * TPB
    notes = [(0, 36, 100), (BAR, 36, 100), (BAR + three_four, 36, 100), (BAR + three_four + 4 * STEP, 38, 100)]
    meta = [meter(0, 4, 4), meter(BAR, 3, 4), meter(BAR + three_four, 4, 4)]
    drum_midi = read_drum_midi(midi_file(tmp_path / "m.mid", notes, meta=meta))
    assert [bar.index for bar in drum_midi.bars] == [0, 2]
    assert drum_midi.skipped[0].index == 1 and "3/4" in drum_midi.skipped[0].reason
    assert drum_midi.bars[1].pattern.labels()[:5] == ["k", "r", "r", "r", "s"]


def test_bar_cut_short_by_a_meter_change_is_skipped(tmp_path):
    notes = [(0, 36, 100), (BAR, 36, 100), (BAR + 2 * TPB, 38, 100)]
    meta = [meter(0, 4, 4), meter(BAR + 2 * TPB, 6, 8)]
    drum_midi = read_drum_midi(midi_file(tmp_path / "cut.mid", notes, meta=meta))
    assert [bar.index for bar in drum_midi.bars] == [0]
    assert [s.index for s in drum_midi.skipped] == [1, 2]
    assert "incomplete 4/4" in drum_midi.skipped[0].reason and "6/8" in drum_midi.skipped[1].reason


def test_only_non_four_four_bars_is_an_input_error(tmp_path):
    path = midi_file(tmp_path / "waltz.mid", [(0, 36, 100), (3 * TPB, 36, 100)], meta=[meter(0, 3, 4)])
    with pytest.raises(JakiInputError, match=r"waltz.mid: no 4/4 bar \(found 3/4"):
        read_drum_midi(path)


@pytest.mark.parametrize(
    ("tick", "bar", "step"),
    [(BAR - STEP // 2 + 1, 1, 0), (BAR - STEP // 2, 1, 0), (BAR - STEP // 2 - 1, 0, 15), (STEP // 2 - 1, 0, 0)],
)
def test_onsets_snap_to_the_nearest_step_even_across_the_bar_line(tmp_path, tick, bar, step):
    path = midi_file(tmp_path / "snap.mid", [(tick, 36, 100), (2 * BAR, 38, 100)])
    bars = read_drum_midi(path).bars
    pattern = bars[bar].pattern
    assert pattern.hits[step, 0] and pattern.hits[:, 0].sum() == 1
    assert pattern.offsets_ms[step, 0] == pytest.approx((tick - (bar * BAR + step * STEP)) / TPB * 500)


def test_empty_bars_inside_are_kept_and_trailing_ones_dropped(tmp_path):
    path = midi_file(tmp_path / "gap.mid", [(0, 36, 100), (2 * BAR, 36, 100)], end_tick=6 * BAR)
    bars = read_drum_midi(path).bars
    assert [bar.index for bar in bars] == [0, 1, 2]
    assert not bars[1].pattern.hits.any() and bars[1].pattern.velocities is not None


def test_loudest_hit_in_a_cell_wins_and_note_on_zero_is_a_note_off(tmp_path):
    path = midi_file(tmp_path / "cell.mid", [(4 * STEP, 38, 50), (4 * STEP + 5, 40, 100)])
    pattern = read_drum_midi(path).bars[0].pattern
    assert pattern.labels()[4] == "s" and pattern.hits.sum() == 1
    assert pattern.velocities[4, 1] == pytest.approx(100 / 127)
    assert pattern.offsets_ms[4, 1] == pytest.approx(5 / TPB * 500)


def test_soft_notes_fold_below_the_hit_threshold(tmp_path):
    path = midi_file(tmp_path / "ghost.mid", [(0, 36, 100), (STEP, 42, 20)])
    assert read_drum_midi(path).bars[0].pattern.labels()[:2] == ["k", "r"]


def test_unmapped_notes_are_counted_not_turned_into_kicks(tmp_path):
    path = midi_file(tmp_path / "u.mid", [(0, 38, 100), (0, 60, 100), (STEP, 60, 100), (2 * STEP, 61, 100)])
    drum_midi = read_drum_midi(path)
    assert drum_midi.unmapped_notes == {60: 2, 61: 1}
    assert drum_midi.bars[0].pattern.labels()[:3] == ["s", "r", "r"]


def test_channel_ten_wins_over_other_channels(tmp_path):
    path = tmp_path / "band.mid"
    drums = mido.MidiTrack([mido.Message("note_on", channel=DRUM_CHANNEL, note=36, velocity=100, time=0)])
    piano = mido.MidiTrack([mido.Message("note_on", channel=0, note=38, velocity=100, time=STEP)])
    mido.MidiFile(type=1, ticks_per_beat=TPB, tracks=[drums, piano]).save(path)
    drum_midi = read_drum_midi(path)
    assert drum_midi.bars[0].pattern.labels()[:2] == ["k", "r"] and drum_midi.unmapped_notes == {}


def test_drum_notes_on_another_channel_are_read_when_channel_ten_is_silent(tmp_path):
    path = midi_file(tmp_path / "ch1.mid", [(0, 36, 100), (4 * STEP, 38, 100)], channel=0, midi_type=0)
    assert read_drum_midi(path).bars[0].pattern.labels()[:5] == ["k", "r", "r", "r", "s"]


def test_piano_only_file_has_no_drum_notes(tmp_path):
    path = midi_file(tmp_path / "piano.mid", [(0, 60, 100), (TPB, 64, 100), (2 * TPB, 67, 100)], channel=0)
    with pytest.raises(
        JakiInputError,
        match=r"piano.mid: no drum notes \(3 note\(s\) on channel 1 and none on channel 10, none in the drum map",
    ):
        read_drum_midi(path)


def test_user_drum_map_reads_groovetoolbox_loops(tmp_path, groovetoolbox_dir):
    drum_map = load_drum_map(bfd3_map_file(tmp_path))
    assert drum_map == BFD3_DRUM_MAP
    for path in sorted((groovetoolbox_dir / "midi").glob("*.mid")):
        drum_midi = read_drum_midi(path, drum_map)
        assert len(drum_midi.bars) in (2, 4) and drum_midi.skipped == ()
        first = drum_midi.bars[0].pattern
        assert first.hits[0, 0], f"{path.name}: a loop starts on a kick"
        assert whole_pattern(drum_midi).hits[:, 1].sum() >= 2, f"{path.name}: a backbeat"
        assert set(drum_midi.unmapped_notes) <= {41, 45}
    jb7 = read_drum_midi(groovetoolbox_dir / "midi" / "JB_7.mid", drum_map)
    assert [bar.tempo_bpm for bar in jb7.bars] == pytest.approx([120.0, 120.0])
    assert jb7.bars[0].pattern.grid_rows()["snare"] == "....x.......x..."
    # The default map does not know BFD3's notes: counted as unmapped, never guessed.
    assert read_drum_midi(groovetoolbox_dir / "midi" / "JB_7.mid").unmapped_notes == {24: 4, 30: 3}


def test_user_toml_drum_map_replaces_the_default(tmp_path):
    map_file = tmp_path / "pads.toml"
    map_file.write_text('60 = "kick"\n61 = "crash"\n')
    path = midi_file(tmp_path / "pads.mid", [(0, 60, 100), (0, 61, 100), (STEP, 36, 100)])
    drum_midi = read_drum_midi(path, load_drum_map(map_file))
    assert drum_midi.bars[0].pattern.labels()[:2] == ["ko", "r"]
    assert drum_midi.unmapped_notes == {36: 1}


def test_bad_drum_map_entry_is_an_input_error(tmp_path, pattern_a):
    path = tmp_path / "a.mid"
    write_drum_midi(pattern_a, path)
    with pytest.raises(JakiInputError, match="drum map"):
        read_drum_midi(path, {36: "cowbell"})


# --- bad files ------------------------------------------------------------------------------------------------


def bad_inputs(folder: Path) -> dict[str, Path]:
    valid = folder / "valid.mid"
    write_drum_midi(Pattern.from_labels(["kc", "r"] * 8), valid)
    data = valid.read_bytes()
    (folder / "empty.mid").write_bytes(b"")
    (folder / "text.mid").write_text("kick x...x...\n")
    (folder / "truncated.mid").write_bytes(data[: len(data) // 2])
    (folder / "corrupt.mid").write_bytes(data[:14] + b"MTrk\xff\xff\xff\xff" + data[22:])
    (folder / "adir.mid").mkdir()
    return {name: folder / f"{name}.mid" for name in ("missing", "empty", "text", "truncated", "corrupt", "adir")}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing", "no such file"),
        ("adir", "is a directory"),
        ("empty", "empty file"),
        ("text", "not a MIDI file"),
        ("truncated", "corrupt or truncated"),
        ("corrupt", "corrupt or truncated"),
    ],
)
def test_bad_files_raise_one_line_input_errors(tmp_path, name, message):
    path = bad_inputs(tmp_path)[name]
    with pytest.raises(JakiInputError) as caught:
        read_drum_midi(path)
    text = str(caught.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text


def test_type_two_file_is_refused(tmp_path):
    path = tmp_path / "t2.mid"
    track = mido.MidiTrack([mido.Message("note_on", channel=DRUM_CHANNEL, note=36, velocity=100)])
    mido.MidiFile(type=2, ticks_per_beat=TPB, tracks=[track]).save(path)
    with pytest.raises(JakiInputError, match="type-2"):
        read_drum_midi(path)


# --- the Groove MIDI Dataset ------------------------------------------------------------------------------


def gmd_files(gmd_dir: Path) -> list[tuple[Path, dict[str, str]]]:
    with open(gmd_dir / "info.csv", newline="") as handle:
        return [(gmd_dir / row["midi_filename"], row) for row in csv.DictReader(handle)]


def test_gmd_file_reads_to_sensible_bars(gmd_dir):
    path, row = next((p, r) for p, r in gmd_files(gmd_dir) if r["time_signature"] == "4-4" and r["style"] == "rock")
    drum_midi = read_drum_midi(path)
    bpm = float(row["bpm"])
    expected_bars = float(row["duration"]) * bpm / 240
    assert abs(len(drum_midi.bars) - expected_bars) <= 2
    assert [bar.index for bar in drum_midi.bars] == list(range(len(drum_midi.bars)))
    assert all(bar.tempo_bpm == pytest.approx(bpm, abs=0.01) for bar in drum_midi.bars)
    pattern = whole_pattern(drum_midi)
    assert pattern.hits[:, 0].any() and pattern.hits[:, 1].any() and pattern.hits[:, 2:4].any()
    hit_offsets = pattern.offsets_ms[pattern.hits]
    step_ms = 60_000 / bpm / 4
    assert np.all(np.abs(hit_offsets) <= step_ms / 2 + 1e-3) and np.abs(hit_offsets).mean() < step_ms / 4


def test_every_gmd_four_four_bar_round_trips(gmd_dir, tmp_path):
    """Issue item 8: read → write → read gives every 4/4 bar back (hits exact, velocities within 1/127)."""
    bars_checked = 0
    for path, row in gmd_files(gmd_dir):
        if row["time_signature"] != "4-4":
            with pytest.raises(JakiInputError, match="no 4/4 bar"):
                read_drum_midi(path)
            continue
        original = whole_pattern(read_drum_midi(path))
        written = tmp_path / "round.mid"
        write_drum_midi(original, written, overwrite=True)
        back = whole_pattern(read_drum_midi(written))
        # Trailing bars whose notes all fold below the hit threshold are written as silence and not read back.
        assert not original.hits[back.n_steps :].any(), path
        kept = original.hits[: back.n_steps]
        assert np.array_equal(back.hits, kept), path
        assert np.abs(back.velocities - original.velocities[: back.n_steps]).max() <= 1 / 127 + 1e-6, path
        bars_checked += original.n_bars
    assert bars_checked > 21_000


@pytest.mark.parametrize("bpm", [95.0, 110.0, 87.5, 133.0])
def test_a_written_tempo_reads_back_as_typed(tmp_path, pattern_a, bpm):
    """MIDI keeps whole microseconds per quarter note (95 bpm → 631,579 µs → 94.99998 bpm): read to 1/1000 bpm."""
    path = tmp_path / "t.mid"
    write_drum_midi(pattern_a, path, tempo_bpm=bpm)
    assert read_drum_midi(path).bars[0].tempo_bpm == bpm


def _piano_file(path: Path) -> Path:
    """A piano part as a DAW writes it: track 'Piano', program 0, on channel 1, notes 36..50 (drum-map numbers)."""
    track = mido.MidiTrack([mido.MetaMessage("track_name", name="Piano"), mido.Message("program_change", program=0)])
    for beat, note in enumerate([36, 38, 42, 46, 50, 36, 38, 42]):
        track.append(mido.Message("note_on", note=note, velocity=80, time=0 if beat == 0 else TPB - 60))
        track.append(mido.Message("note_on", note=note, velocity=0, time=60))
    mido.MidiFile(type=1, ticks_per_beat=TPB, tracks=[track]).save(path)
    return path


def test_a_piano_part_is_not_read_as_drums_unless_its_channel_is_named(tmp_path):
    path = _piano_file(tmp_path / "piano.mid")
    with pytest.raises(JakiInputError) as refused:
        read_drum_midi(path)
    assert str(refused.value) == (
        f"{path}: no notes on drum channel 10, and channel 1 plays a melodic instrument (program 0, track 'Piano'); "
        "if its notes are drums, read them with --channel 1"
    )
    first, second = read_drum_midi(path, channel=1).bars
    assert first.pattern.grid_rows() == {
        "kick": "x...............",
        "snare": "....x...........",
        "closed": "........x.......",
        "open": "............x...",
        "toms": "................",
    }
    assert second.pattern.grid_rows()["toms"] == "x..............."
    with pytest.raises(JakiInputError, match=r"no notes on channel 2 \(notes are on channel 1\)"):
        read_drum_midi(path, channel=2)
    with pytest.raises(JakiInputError, match=r"--channel 17: expected a MIDI channel 1\.\.16"):
        read_drum_midi(path, channel=17)
