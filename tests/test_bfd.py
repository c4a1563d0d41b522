"""BFD3 palette reader: the real palettes, their MIDI exports, and small hand-written palettes for each rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jaki.bfd import read_bfd_palette
from jaki.errors import JakiInputError
from jaki.kit import BFD3_DRUM_MAP
from jaki.midi import read_drum_midi
from jaki.pattern import PARTS, Pattern

KICK, SNARE, CLOSED, OPEN, TOMS = range(len(PARTS))
PPQN = 1_000_000


def palette_xml(grooves: str, *, bpm: str = "120") -> str:
    return f"""<root timeformat="ticks" ppqn="{PPQN}" timesig="4/4" bpm="{bpm}">
  <BFD2GrooveBundle name="bundle" version="3">
    <BFD2GrooveBundleInfo name="info" info_name="Test Palette" genre="Funk" bpm="{bpm}" timesig="4/4" />
    <VDictionary name="grooves" count="1">{grooves}</VDictionary>
  </BFD2GrooveBundle>
</root>"""


def groove_xml(
    hits: list[tuple[float, int, int, float]], *, name: str = "G 1", fill: str = "false", info: str = ""
) -> str:
    """One groove; hits as (beat, slot, articulation, velocity)."""
    hit_elements = "".join(
        f'<BFD2GrooveHit pos="{round(beat * PPQN)}" len="100" kpslot="{slot}" kpartic="{artic}" vel="{vel}" />'
        for beat, slot, artic, vel in hits
    )
    info = info or 'bpm="120" timesig="4/4" denombeats="8"'
    return f"""<VDictionaryPair><VValue type="int" value="0" />
      <BFD2GrooveSlot fill="{fill}"><BFD2Groove name="groove" ppqn="{PPQN}">
        <BFD2GrooveInfo name="info" info_name="{name}" {info} />
        <VObjectArray name="hits" count="{len(hits)}">{hit_elements}</VObjectArray>
      </BFD2Groove></BFD2GrooveSlot></VDictionaryPair>"""


def write_palette(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "test.bfd3pal"
    path.write_text(text, encoding="utf-8")
    return path


def read_one(tmp_path: Path, hits: list[tuple[float, int, int, float]], **groove_args: str):
    return read_bfd_palette(write_palette(tmp_path, palette_xml(groove_xml(hits, **groove_args)))).grooves[0]


# --- the real palettes --------------------------------------------------------------------------------------


def test_the_four_palettes(groovetoolbox_dir: Path) -> None:
    palettes = {p.stem: read_bfd_palette(p) for p in sorted((groovetoolbox_dir / "palettes").glob("*.bfd3pal"))}
    summary = {
        name: (len(p.grooves), sum(g.is_fill for g in p.grooves), {g.tempo_bpm for g in p.grooves}, p.genre)
        for name, p in palettes.items()
    }
    assert summary == {
        "Glam Get Down": (40, 7, {167.0}, "Pop"),
        "Soul Blues": (41, 8, {90.0}, "Blues"),
        "Stanton Moore JB": (36, 10, {120.0}, "Funk"),
        "Trash Metal": (50, 21, {174.0}, "Metal"),
    }
    grooves = {g.name: g for p in palettes.values() for g in p.grooves}
    # Real lengths from denombeats: 4 beats = 1 bar, 12 beats = 3 bars (GrooveToolbox forced 2).
    assert grooves["Glam Get Down 13"].n_bars == 1 and grooves["Glam Get Down 13"].pattern.n_bars == 1
    assert grooves["Glam Get Down 26"].pattern.n_bars == 3
    assert grooves["JB 7"].pattern.n_bars == 2
    assert all(g.is_four_four for g in grooves.values())
    # Trash Metal has 8 hits on slot 16 (a second cymbal): reported, not turned into kicks.
    assert palettes["Trash Metal"].unknown_slots == {16: 8}
    assert all(not p.unknown_slots for name, p in palettes.items() if name != "Trash Metal")


def test_jb_7_first_bar(groovetoolbox_dir: Path) -> None:
    """Checked by hand against JB_7.mid: the step-0 hi-hat (27/127) is under the 0.3 threshold; the kick just
    before beat 5 (step 15.94) belongs to bar 2."""
    groove = next(
        g
        for g in read_bfd_palette(groovetoolbox_dir / "palettes" / "Stanton Moore JB.bfd3pal").grooves
        if g.name == "JB 7"
    )
    assert groove.pattern.bar(0).to_grid() == (
        "kick   x.........x.....\n"
        "snare  ....x.......x...\n"
        "closed ..x.x.x.x.x.x.x.\n"
        "open   ................\n"
        "toms   ................"
    )


MIDI_EXPORTS = [
    "Glam_Get_Down_5",
    "Glam_Get_Down_7",
    "Glam_Get_Down_9",
    "JB_7",
    "JB_17",
    "JB_22",
    "Soul_Blues_18",
]
VELOCITY_STEP = 1 / 127


@pytest.mark.parametrize("export", MIDI_EXPORTS)
def test_palette_agrees_with_its_midi_export(groovetoolbox_dir: Path, export: str) -> None:
    """JB_7.mid is groove "JB 7" exported by BFD3: same hits bar by bar, same velocities and timing.

    The exporter writes velocities up to 2/127 louder than the palette, so a cell within that margin of the 0.3 hit
    threshold may differ (one cell: Soul Blues 18, a 0.299 closed hi-hat written as 0.307).
    """
    name = export.replace("_", " ")
    grooves = [g for p in (groovetoolbox_dir / "palettes").glob("*.bfd3pal") for g in read_bfd_palette(p).grooves]
    groove = next(g for g in grooves if g.name == name)
    midi = read_drum_midi(groovetoolbox_dir / "midi" / f"{export}.mid", BFD3_DRUM_MAP)
    assert not midi.unmapped_notes
    assert [bar.index for bar in midi.bars] == list(range(groove.n_bars))
    assert midi.bars[0].tempo_bpm == pytest.approx(groove.tempo_bpm, abs=0.01)
    exported = Pattern.concat([bar.pattern for bar in midi.bars])
    palette = groove.pattern
    near_threshold = np.abs(np.maximum(exported.velocities, palette.velocities) - 0.3) <= 2 * VELOCITY_STEP
    for bar in range(groove.n_bars):
        rows = slice(bar * 16, bar * 16 + 16)
        differ = exported.hits[rows] != palette.hits[rows]
        assert not (differ & ~near_threshold[rows]).any(), f"{name} bar {bar}"
    both = exported.hits & palette.hits
    assert np.abs(exported.velocities - palette.velocities)[both].max() <= 2 * VELOCITY_STEP + 1e-6
    assert np.abs(exported.offsets_ms - palette.offsets_ms)[both].max() < 0.1


# --- the rules, on small palettes ---------------------------------------------------------------------------


def test_timing_velocity_and_wrap(tmp_path: Path) -> None:
    groove = read_one(
        tmp_path,
        [
            (1.05, 0, 0, 0.8),  # 1.05 beats = step 4.2 → step 4, 0.05 beat late = 25 ms at 120 bpm
            (1.95, 1, 0, 0.5),  # step 8, 25 ms early
            (7.95, 1, 0, 0.6),  # before the loop's end: wraps to step 0, 25 ms early
            (3.0, 1, 0, 0.2),  # too quiet after folding: no hit
        ],
    )
    pattern = groove.pattern
    assert pattern.n_bars == 2
    assert {(int(s), int(p)) for s, p in np.argwhere(pattern.hits)} == {(4, KICK), (8, SNARE), (0, SNARE)}
    assert pattern.velocities[4, KICK] == pytest.approx(0.8)
    assert pattern.offsets_ms[4, KICK] == pytest.approx(25.0, abs=1e-3)
    assert pattern.offsets_ms[8, SNARE] == pytest.approx(-25.0, abs=1e-3)
    assert pattern.offsets_ms[0, SNARE] == pytest.approx(-25.0, abs=1e-3)


def test_loudest_hit_of_a_cell_wins(tmp_path: Path) -> None:
    pattern = read_one(tmp_path, [(0.98, 1, 2, 0.4), (1.0, 1, 0, 0.9)]).pattern
    assert pattern.velocities[4, SNARE] == pytest.approx(0.9)
    assert pattern.offsets_ms[4, SNARE] == pytest.approx(0.0, abs=1e-3)


@pytest.mark.parametrize(
    ("artic", "part"),
    [
        (0, OPEN),
        (1, OPEN),
        (2, OPEN),
        (3, OPEN),
        (6, OPEN),
        (7, OPEN),
        (4, CLOSED),
        (8, CLOSED),
        (9, CLOSED),
        (10, CLOSED),
        (19, CLOSED),
    ],
)
def test_hihat_articulations(tmp_path: Path, artic: int, part: int) -> None:
    pattern = read_one(tmp_path, [(0.0, 2, artic, 1.0)]).pattern
    assert np.flatnonzero(pattern.hits[0]).tolist() == [part]


@pytest.mark.parametrize(
    ("slot", "part"), [(0, KICK), (1, SNARE), (3, TOMS), (4, TOMS), (5, TOMS), (6, OPEN), (7, OPEN), (8, CLOSED)]
)
def test_kit_slots(tmp_path: Path, slot: int, part: int) -> None:
    pattern = read_one(tmp_path, [(0.0, slot, 0, 1.0)]).pattern
    assert np.flatnonzero(pattern.hits[0]).tolist() == [part]


def test_unknown_slots_chokes_and_mutes_are_counted_not_played(tmp_path: Path) -> None:
    groove = read_one(
        tmp_path, [(0.0, 16, 0, 1.0), (1.0, 9, 0, 1.0), (1.0, 16, 0, 1.0), (2.0, 6, 8000, 1.0), (3.0, 0, 0, 1.0)]
    )
    assert groove.unknown_slots == {9: 1, 16: 2}
    assert groove.dropped == {"choke": 1}
    assert np.argwhere(groove.pattern.hits).tolist() == [[12, KICK]]


@pytest.mark.parametrize(
    ("info", "hits", "bars"),
    [
        ('bpm="120" timesig="4/4" denombeats="4"', [(0.0, 0, 0, 1.0)], 1),
        ('bpm="120" timesig="4/4" denombeats="12"', [(0.0, 0, 0, 1.0)], 3),
        ('bpm="120" timesig="4/4" denombeats="6"', [(0.0, 0, 0, 1.0)], 2),
        ('bpm="120" timesig="4/4"', [(0.0, 0, 0, 1.0), (9.0, 0, 0, 1.0)], 3),
    ],
)
def test_groove_length(tmp_path: Path, info: str, hits: list, bars: int) -> None:
    groove = read_one(tmp_path, hits, info=info)
    assert groove.n_bars == bars and groove.pattern.n_bars == bars


def test_hits_after_the_end_are_dropped(tmp_path: Path) -> None:
    groove = read_one(tmp_path, [(0.0, 0, 0, 1.0), (6.0, 0, 0, 1.0)], info='bpm="100" timesig="4/4" denombeats="4"')
    assert groove.dropped == {"after the groove's end": 1}
    assert groove.pattern.hits[:, KICK].sum() == 1


def test_other_meters_have_no_pattern(tmp_path: Path) -> None:
    groove = read_one(tmp_path, [(0.0, 0, 0, 1.0)], info='bpm="90" timesig="3/4" denombeats="6"', fill="true")
    assert groove.pattern is None
    assert (groove.time_signature, groove.n_bars, groove.is_fill, groove.tempo_bpm) == ((3, 4), 2, True, 90.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not well-formed XML"),
        ("<root><unclosed></root>", "not well-formed XML"),
        ('<!DOCTYPE r [<!ENTITY a "aaaa">]><root>&a;</root>', "DTD"),
        ('<!DOCTYPE r SYSTEM "file:///etc/passwd"><root/>', "DTD"),
        ("<root><other/></root>", "no BFD2GrooveBundle"),
        (palette_xml(""), "no grooves"),
        (palette_xml(groove_xml([(0.0, 0, 0, 1.0)]).replace('pos="0"', 'pos="soon"')), "hit pos 'soon'"),
        (palette_xml(groove_xml([], info='bpm="fast" timesig="4/4"')), "bpm 'fast'"),
        (palette_xml(groove_xml([], info='bpm="120" timesig="four"')), "time signature"),
        (palette_xml(groove_xml([(1.0, 0, 0, 1.0)]).replace(f'ppqn="{PPQN}"', 'ppqn="0"')), "ppqn 0"),
    ],
)
def test_malformed_palettes(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(JakiInputError, match=message):
        read_bfd_palette(write_palette(tmp_path, text))


def test_missing_palette(tmp_path: Path) -> None:
    with pytest.raises(JakiInputError, match="no such file"):
        read_bfd_palette(tmp_path / "nope.bfd3pal")
