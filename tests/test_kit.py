import json

import numpy as np
import pytest

from jaki.errors import JakiInputError
from jaki.kit import KIT_PARTS, TD11_DRUM_MAP, fold_to_pattern, load_drum_map


def kit_row(**velocities: float) -> np.ndarray:
    row = np.zeros((16, len(KIT_PARTS)), dtype=np.float32)
    for part, velocity in velocities.items():
        row[0, KIT_PARTS.index(part)] = velocity
    return row


def test_fold_sums_and_clips_before_the_threshold():
    assert fold_to_pattern(kit_row(closed_hihat=0.2, ride=0.2)).labels()[0] == "c"
    assert fold_to_pattern(kit_row(closed_hihat=0.2)).labels()[0] == "r"
    folded = fold_to_pattern(kit_row(open_hihat=0.8, crash=0.9, low_tom=0.5, high_tom=0.1))
    assert folded.labels()[0] == "ot"
    assert folded.velocities[0, 3] == 1.0 and folded.velocities[0, 4] == pytest.approx(0.6)


def test_fold_averages_offsets_of_the_hits_it_merges():
    offsets = np.full((16, len(KIT_PARTS)), np.nan, dtype=np.float32)
    offsets[0, KIT_PARTS.index("closed_hihat")] = 10.0
    offsets[0, KIT_PARTS.index("ride")] = 20.0
    folded = fold_to_pattern(kit_row(closed_hihat=0.5, ride=0.5), offsets)
    assert folded.offsets_ms[0, 2] == 15.0
    assert np.isnan(folded.offsets_ms[0, 0])


def test_builtin_and_user_drum_maps(tmp_path):
    assert load_drum_map("td11")[22] == "closed_hihat"
    assert load_drum_map("bfd3")[24] == "kick"
    toml_map = tmp_path / "kit.toml"
    toml_map.write_text('36 = "kick"\n38 = "snare"\n')
    assert load_drum_map(toml_map) == {36: "kick", 38: "snare"}
    json_map = tmp_path / "kit.json"
    json_map.write_text(json.dumps({"notes": {"60": "high_tom"}}))
    assert load_drum_map(json_map) == {60: "high_tom"}
    assert set(TD11_DRUM_MAP.values()) <= set(KIT_PARTS)


@pytest.mark.parametrize(
    ("content", "message"),
    [('36 = "cowbell"', "kit parts are"), ('300 = "kick"', "not a MIDI note"), ("36 = ", "not a readable")],
)
def test_bad_drum_maps_are_input_errors(tmp_path, content, message):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(JakiInputError, match=message):
        load_drum_map(path)


def test_missing_drum_map():
    with pytest.raises(JakiInputError, match="not found"):
        load_drum_map("no/such/map.toml")
