"""Read BFD3 groove palettes (``.bfd3pal``): every groove, at its real length, as a :class:`Pattern`.

A palette is one XML document (FEATURES.md §4): a ``BFD2GrooveBundle`` holding a ``VDictionary`` of
``BFD2GrooveSlot`` → ``BFD2Groove``, each groove with an info element (name, bpm, time signature, length in
``denombeats``) and a list of hits (``pos`` in ticks at the file's ``ppqn``, kit slot, articulation, velocity 0..1).

Decisions where GrooveToolbox's loader differs or the format is silent:

* **Length**: a groove lasts ``denombeats`` beats of its time signature, rounded up to whole bars (GrooveToolbox
  forced every groove to 2 bars, padding 1-bar grooves with silence and cutting 3-bar ones). Without
  ``denombeats`` the length is the bars its hits reach.
* **Quantisation**: each hit goes to the nearest 16th (halves round up); its offset from that step, in ms at the
  groove's own tempo, is kept. A hit quantised onto the end of the groove is the early downbeat of the loop's
  repeat and wraps to step 0; hits beyond that, muted hits and chokes (articulation 8000, a damping, not a
  stroke) are dropped and counted in ``BfdGroove.dropped``.
* **Several hits of one kit part in one cell** (flams, drags): the loudest one is kept, with its offset.
* **Kit slots** → kit parts (:data:`SLOT_TO_KIT`); the hi-hat (slot 2) is open for the open, 3/4 and 1/4
  articulations (:data:`OPEN_HIHAT_ARTICS`) and closed for every other articulation (closed, half, pedal, variable,
  splash, bell, and ids not in BFD3's list). Articulation 19, which GrooveToolbox also counted as open, is named by
  none of the palettes' hi-hat articulation lists (0-14, 30, 8000), so it gets no special case: it is closed.
* **Unknown slots** (percussion, second kick, extra cymbals beyond slot 8 …) are counted in
  ``BfdGroove.unknown_slots`` and dropped — never turned into kicks.
* **Parsing is safe**: a document with a DTD (``<!DOCTYPE``/``<!ENTITY``) is refused outright, so no entity is ever
  expanded or resolved; any malformed file or value is a :class:`JakiInputError` naming the file.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jaki.errors import JakiInputError
from jaki.io import read_bounded
from jaki.kit import KIT_PARTS, fold_to_pattern
from jaki.pattern import STEPS_PER_BAR, Pattern

DEFAULT_PPQN = 1_000_000
HIHAT_SLOT = 2
# BFD3 hi-hat articulations that sound open: Open Tip/Shank (0, 1), 3/4 Tip/Shank (2, 3), 1/4 Tip/Shank (6, 7).
OPEN_HIHAT_ARTICS: frozenset[int] = frozenset({0, 1, 2, 3, 6, 7})
CHOKE_ARTIC = 8000
# BFD3 kit slots (fx/bfd/kit.py numbering) → kit part; the hi-hat slot is resolved by articulation.
SLOT_TO_KIT: Mapping[int, str] = {
    0: "kick",
    1: "snare",
    3: "low_tom",  # Floor Tom
    4: "mid_tom",
    5: "high_tom",
    6: "crash",  # Crash 1
    7: "extra_cymbal",  # Cymbal 1
    8: "ride",  # Ride 1
}

_KIT_INDEX = {part: index for index, part in enumerate(KIT_PARTS)}
_TIME_SIGNATURE = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")
_MAX_FILE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class BfdGroove:
    """One groove of a palette.

    ``pattern`` holds all ``n_bars`` bars with velocities and offsets; it is ``None`` for a groove not in 4/4,
    which jaki's 16-step bars cannot hold. ``unknown_slots``: kit slot → hits dropped because the slot maps to no kit
    part. ``dropped``: reason → other hits not placed (muted, choke, after the groove's end).
    """

    name: str
    tempo_bpm: float
    time_signature: tuple[int, int]
    is_fill: bool
    n_bars: int
    pattern: Pattern | None
    unknown_slots: dict[int, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def is_four_four(self) -> bool:
        return self.time_signature == (4, 4)


@dataclass(frozen=True)
class BfdPalette:
    """A palette file: its name and genre (from the bundle's info) and its grooves in file order."""

    path: Path
    name: str
    genre: str
    grooves: tuple[BfdGroove, ...]

    @property
    def unknown_slots(self) -> dict[int, int]:
        """Hits dropped for unknown kit slots, over all grooves."""
        total: Counter[int] = Counter()
        for groove in self.grooves:
            total.update(groove.unknown_slots)
        return dict(sorted(total.items()))


def read_bfd_palette(path: str | Path) -> BfdPalette:
    """Parse a ``.bfd3pal`` file; :class:`JakiInputError` for a missing, unsafe or malformed one."""
    path = Path(path)
    root = _parse_xml(path)
    bundle = _find(root, "BFD2GrooveBundle", path)
    dictionary = _find(bundle, "VDictionary[@name='grooves']", path)
    bundle_info = bundle.find("BFD2GrooveBundleInfo")
    defaults = {**root.attrib, **(bundle_info.attrib if bundle_info is not None else {})}
    ppqn = _number(root.get("ppqn", DEFAULT_PPQN), int, "ppqn", path)
    grooves = []
    for index, slot in enumerate(dictionary.iter("BFD2GrooveSlot")):
        groove = slot.find("BFD2Groove")
        if groove is None:
            raise JakiInputError(f"{path}: groove slot {index} holds no BFD2Groove (expected a BFD3 palette)")
        grooves.append(_read_groove(groove, slot, index, defaults, ppqn, path))
    if not grooves:
        raise JakiInputError(f"{path}: no grooves in the palette (expected BFD2GrooveSlot entries)")
    return BfdPalette(
        path=path,
        name=defaults.get("info_name") or path.stem,
        genre=defaults.get("genre", ""),
        grooves=tuple(grooves),
    )


def _parse_xml(path: Path) -> ET.Element:
    data = read_bounded(path, _MAX_FILE_BYTES, "a .bfd3pal palette")
    if re.search(rb"<!\s*(DOCTYPE|ENTITY)", data, re.IGNORECASE):
        raise JakiInputError(f"{path}: XML with a DTD or entities is refused (a BFD3 palette has none)")
    try:
        return ET.fromstring(data)
    except ET.ParseError as error:
        raise JakiInputError(f"{path}: not well-formed XML ({error}; expected a .bfd3pal palette)") from None


def _find(parent: ET.Element, tag: str, path: Path) -> ET.Element:
    found = parent if parent.tag == tag else parent.find(f".//{tag}")
    if found is None:
        raise JakiInputError(f"{path}: no {tag.split('[')[0]} element (expected a BFD3 groove palette)")
    return found


def _number(text: object, kind: type, what: str, path: Path, groove: str = "") -> float | int:
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value):
        where = f" in groove {groove!r}" if groove else ""
        raise JakiInputError(f"{path}: {what} {text!r}{where} is not a finite number")
    return int(value) if kind is int else value


def _time_signature(text: str, path: Path, groove: str) -> tuple[int, int]:
    match = _TIME_SIGNATURE.fullmatch(text)
    if not match or int(match[1]) == 0 or int(match[2]) == 0:
        raise JakiInputError(f"{path}: time signature {text!r} of groove {groove!r} is not like '4/4'")
    return int(match[1]), int(match[2])


def _read_groove(
    groove: ET.Element, slot: ET.Element, index: int, defaults: Mapping[str, str], ppqn: int, path: Path
) -> BfdGroove:
    info = groove.find("BFD2GrooveInfo")
    attrs = {**defaults, **(info.attrib if info is not None else {})}
    name = (info.get("info_name") if info is not None else None) or f"groove {index + 1}"
    tempo = _number(attrs.get("bpm", "120"), float, "bpm", path, name)
    if tempo <= 0:
        raise JakiInputError(f"{path}: bpm {tempo} of groove {name!r} is not positive")
    numerator, denominator = _time_signature(attrs.get("timesig", "4/4"), path, name)
    ticks_per_quarter = _number(groove.get("ppqn", ppqn), int, "ppqn", path, name)
    if ticks_per_quarter <= 0:
        raise JakiInputError(f"{path}: ppqn {ticks_per_quarter} of groove {name!r} is not positive")
    fill = slot.get("fill")
    is_fill = fill.lower() == "true" if fill is not None else "fill" in name.lower()

    hits_element = groove.find("VObjectArray[@name='hits']")
    hits = [] if hits_element is None else list(hits_element.iter("BFD2GrooveHit"))
    # Positions in beats of the time signature's denominator (pos counts quarter notes).
    beats = [_number(hit.get("pos"), int, "hit pos", path, name) / ticks_per_quarter * denominator / 4 for hit in hits]
    n_bars = _groove_bars(info, beats, numerator, path, name)
    if (numerator, denominator) != (4, 4):
        return BfdGroove(name, tempo, (numerator, denominator), is_fill, n_bars, None)

    n_steps = n_bars * STEPS_PER_BAR
    velocities = np.zeros((n_steps, len(KIT_PARTS)), dtype=np.float32)
    offsets = np.full((n_steps, len(KIT_PARTS)), np.nan, dtype=np.float32)
    unknown: Counter[int] = Counter()
    dropped: Counter[str] = Counter()
    ms_per_step = 60_000.0 / tempo / 4
    for hit, beat in zip(hits, beats, strict=True):
        slot_number = _number(hit.get("kpslot"), int, "kpslot", path, name)
        artic = _number(hit.get("kpartic", "0"), int, "kpartic", path, name)
        if hit.get("mute", "").lower() in ("true", "yes", "1"):
            dropped["muted"] += 1
            continue
        if artic == CHOKE_ARTIC:
            dropped["choke"] += 1
            continue
        part = _kit_part(slot_number, artic)
        if part is None:
            unknown[slot_number] += 1
            continue
        position = beat * 4  # in 16th steps
        step = math.floor(position + 0.5)
        offset_ms = (position - step) * ms_per_step
        if step == n_steps:
            step = 0  # the loop's next downbeat, played early
        if not 0 <= step < n_steps:
            dropped["after the groove's end"] += 1
            continue
        velocity = min(1.0, max(0.0, _number(hit.get("vel"), float, "vel", path, name)))
        column = _KIT_INDEX[part]
        if velocity > velocities[step, column]:
            velocities[step, column] = velocity
            offsets[step, column] = offset_ms
    return BfdGroove(
        name=name,
        tempo_bpm=tempo,
        time_signature=(4, 4),
        is_fill=is_fill,
        n_bars=n_bars,
        pattern=fold_to_pattern(velocities, offsets),
        unknown_slots=dict(sorted(unknown.items())),
        dropped=dict(dropped),
    )


def _groove_bars(info: ET.Element | None, beats: list[float], numerator: int, path: Path, name: str) -> int:
    """Whole bars the groove lasts: ``denombeats`` rounded up, else the bars its (quantised) hits reach."""
    length = info.get("denombeats") if info is not None else None
    if length is not None:
        n_beats = _number(length, float, "denombeats", path, name)
        if n_beats <= 0:
            raise JakiInputError(f"{path}: denombeats {length!r} of groove {name!r} is not positive")
        return max(1, math.ceil(n_beats / numerator - 1e-9))
    last_step = max((math.floor(beat * 4 + 0.5) for beat in beats), default=0)
    return max(1, last_step // (numerator * 4) + 1)


def _kit_part(slot: int, artic: int) -> str | None:
    if slot == HIHAT_SLOT:
        return "open_hihat" if artic in OPEN_HIHAT_ARTICS else "closed_hihat"
    return SLOT_TO_KIT.get(slot)
