import json
import re

import mido
import pytest
from typer.testing import CliRunner

from jaki.cli.main import app
from jaki.groovetoolbox import MICROTIMING_FEATURES, RHYTHM_FEATURES
from jaki.midi import write_drum_midi
from test_midi import TPB, bad_inputs, bfd3_map_file, meter, midi_file

runner = CliRunner()


def test_json_of_pattern_a(tmp_path, pattern_a):
    path = tmp_path / "a.mid"
    write_drum_midi(pattern_a, path)
    result = runner.invoke(app, ["analyze", str(path), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["file"] == str(path)
    assert document["skipped"] == [] and document["unmapped_notes"] == {}
    [bar] = document["bars"]
    assert bar["index"] == 0 and bar["tempo_bpm"] == pytest.approx(120.0)
    assert bar["grid"] == {
        "kick": "x.......x.......",
        "snare": "....x.......x...",
        "closed": "x.x.x.x.x.x.x.x.",
        "open": "................",
        "toms": "................",
    }
    features = bar["features"]
    assert [features[name] for name in ("cymbal_density", "drum_density", "syncopation", "repetition")] == [
        8,
        4,
        0,
        1.0,
    ]
    assert set(RHYTHM_FEATURES) | set(MICROTIMING_FEATURES) <= set(features)
    assert features["combined_syncopation"] == 0 and features["symmetry"] == 1.0
    assert features["timing_accuracy"] == 0  # written on the grid


def test_json_reports_skipped_bars_and_unmapped_notes(tmp_path):
    notes = [(0, 36, 100), (0, 60, 100), (4 * TPB, 36, 100), (7 * TPB, 38, 100)]
    path = midi_file(tmp_path / "mixed.mid", notes, meta=[meter(0, 4, 4), meter(4 * TPB, 3, 4), meter(7 * TPB, 4, 4)])
    result = runner.invoke(app, ["analyze", str(path), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [bar["index"] for bar in document["bars"]] == [0, 2]
    assert document["skipped"] == [{"index": 1, "reason": "3/4 bar (only 4/4 bars are read)"}]
    assert document["unmapped_notes"] == {"60": 1}


def test_undefined_features_are_null_in_json(tmp_path):
    # Bar 0: one off-beat hit (weak-to-strong ratio has no strong hits); bar 1: empty (no timing to average).
    path = midi_file(tmp_path / "sparse.mid", [(TPB // 4, 38, 100), (2 * 4 * TPB, 36, 100)])
    result = runner.invoke(app, ["analyze", str(path), "--json"])
    assert result.exit_code == 0, result.output
    bars = json.loads(result.stdout)["bars"]
    assert [bar["index"] for bar in bars] == [0, 1, 2]
    assert bars[0]["features"]["weak_to_strong_ratio"] is None
    assert bars[1]["features"]["timing_accuracy"] is None and bars[1]["features"]["cymbal_density"] == 0
    assert "NaN" not in result.stdout and "Infinity" not in result.stdout


def test_pretty_output_shows_grid_features_and_unmapped_notes(tmp_path, groovetoolbox_dir):
    map_file = bfd3_map_file(tmp_path)
    loop = groovetoolbox_dir / "midi" / "Soul_Grooves_18.mid"
    result = runner.invoke(app, ["analyze", str(loop), "--drum-map", str(map_file)])
    assert result.exit_code == 0, result.output
    assert "bar 1 · 118.0 bpm" in result.stdout and "bar 2 · 118.0 bpm" in result.stdout
    assert "kick   x.x.......x....x" in result.stdout
    assert "cymbal density" in result.stdout and "autocorrelation harmonicity" in result.stdout
    assert "unmapped notes" in result.stdout and "41 ×1" in result.stdout


def test_gmd_file_as_json(gmd_dir):
    path = next(gmd_dir.glob("drummer1/session1/*_4-4.mid"))
    result = runner.invoke(app, ["analyze", str(path), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert len(document["bars"]) > 1
    assert all(len(row) == 16 for bar in document["bars"] for row in bar["grid"].values())
    assert all(0 <= bar["features"]["cymbal_density"] <= 16 for bar in document["bars"])


def assert_one_line_error(result, path) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(path) in lines[0], result.stderr
    assert "Traceback" not in result.output and result.stdout == ""


@pytest.mark.parametrize("name", ["missing", "adir", "empty", "text", "truncated", "corrupt"])
def test_bad_files_exit_2_with_one_error_line(tmp_path, name):
    path = bad_inputs(tmp_path)[name]
    assert_one_line_error(runner.invoke(app, ["analyze", str(path), "--json"]), path)


def test_piano_only_file_exits_2(tmp_path):
    path = tmp_path / "piano.mid"
    track = mido.MidiTrack(
        [mido.Message("program_change", channel=0, program=0)]
        + [mido.Message("note_on", channel=0, note=note, velocity=90, time=TPB) for note in (60, 64, 67, 72)]
    )
    mido.MidiFile(type=0, ticks_per_beat=TPB, tracks=[track]).save(path)
    result = runner.invoke(app, ["analyze", str(path)])
    assert_one_line_error(result, path)
    assert "channel 1 plays a melodic instrument (program 0)" in result.stderr
    assert "read them with --channel 1" in result.stderr


def test_all_three_four_file_exits_2(tmp_path):
    path = midi_file(tmp_path / "waltz.mid", [(0, 36, 100), (3 * TPB, 36, 100)], meta=[meter(0, 3, 4)])
    result = runner.invoke(app, ["analyze", str(path)])
    assert_one_line_error(result, path)
    assert "no 4/4 bar" in result.stderr


def test_unknown_drum_map_exits_2(tmp_path, pattern_a):
    path = tmp_path / "a.mid"
    write_drum_midi(pattern_a, path)
    result = runner.invoke(app, ["analyze", str(path), "--drum-map", str(tmp_path / "nope.toml")])
    assert_one_line_error(result, tmp_path / "nope.toml")


def test_played_bar_shows_velocity_and_timing_per_hit_and_part(tmp_path, pattern_a):
    import numpy as np

    from jaki.pattern import Pattern

    velocities = np.where(pattern_a.hits, np.linspace(0.3, 0.9, 16)[:, None], 0.0)
    offsets = np.where(pattern_a.hits, 10.0, np.nan)
    offsets[4, 1] = -20.0  # the snare on beat 2 pushed
    path = tmp_path / "played.mid"
    write_drum_midi(Pattern(pattern_a.hits, velocities, offsets), path, tempo_bpm=120.0)
    result = runner.invoke(app, ["analyze", str(path), "--json"])
    [bar] = json.loads(result.stdout)["bars"]
    snare = [hit for hit in bar["hits"] if hit["part"] == "snare"]
    assert [hit["step"] for hit in snare] == [4, 12]
    assert snare[0]["offset_ms"] == pytest.approx(-20.0, abs=1.0) and snare[1]["offset_ms"] == pytest.approx(
        10.0, abs=1.0
    )
    assert snare[0]["velocity"] == round(127 * velocities[4, 1])
    assert bar["feel"]["snare"]["offset_ms_mean"] == pytest.approx(-5.0, abs=1.0)
    assert bar["feel"]["toms"] == {key: None for key in bar["feel"]["toms"]}
    assert bar["features"]["laidbackness"] < 0  # a pushed snare on beat 2
    pretty = runner.invoke(app, ["analyze", str(path)])
    assert "offset ms (+ late)" in pretty.stdout
    assert re.search(r"snare\s+2\s+78 ± 20\s+-5\.0 ± 14\.8", pretty.stdout)  # ticks round 10 ms to 9.9
