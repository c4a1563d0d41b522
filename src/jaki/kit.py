"""Drum kits as data: the 10 kit parts of GrooveToolbox, how they fold into jaki's 5 parts, and note maps.

Readers (MIDI, BFD3) map what they find onto the 10 kit parts of FEATURES.md §1.1, then call
:func:`fold_to_pattern`, the single place where 10 parts become 5 and velocities become hits. A note that maps to
no kit part is the reader's to count and report; nothing here ever turns it into a kick.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from jaki.errors import JakiInputError
from jaki.io import read_bounded
from jaki.pattern import PARTS, Pattern

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

KIT_PARTS: tuple[str, ...] = (
    "kick",
    "snare",
    "closed_hihat",
    "open_hihat",
    "ride",
    "crash",
    "extra_cymbal",
    "low_tom",
    "mid_tom",
    "high_tom",
)

# Which of jaki's 5 parts each kit part sounds as (FEATURES.md §1.2).
KIT_TO_PART: Mapping[str, str] = {
    "kick": "kick",
    "snare": "snare",
    "closed_hihat": "closed",
    "ride": "closed",
    "open_hihat": "open",
    "crash": "open",
    "extra_cymbal": "open",
    "low_tom": "toms",
    "mid_tom": "toms",
    "high_tom": "toms",
}

# A folded velocity below this is dropped as a ghost too faint to count as a hit (jaki's choice, §1.3).
HIT_THRESHOLD: float = 0.3

# _FOLD[k, p] = 1 when kit part k sounds as pattern part p.
_FOLD = np.array([[KIT_TO_PART[kit] == part for part in PARTS] for kit in KIT_PARTS], dtype=np.float32)

# General MIDI percussion (channel 10) → kit part.
GM_DRUM_MAP: Mapping[int, str] = {
    35: "kick", 36: "kick",
    37: "snare", 38: "snare", 39: "snare", 40: "snare",
    42: "closed_hihat", 44: "closed_hihat",
    46: "open_hihat",
    51: "ride", 53: "ride", 59: "ride",
    49: "crash", 57: "crash",
    52: "extra_cymbal", 55: "extra_cymbal",
    41: "low_tom", 43: "low_tom",
    45: "mid_tom", 47: "mid_tom",
    48: "high_tom", 50: "high_tom",
}  # fmt: skip

# Roland TD-11 as recorded in the Groove MIDI Dataset (its README): GM plus the kit's edge/rim notes.
TD11_DRUM_MAP: Mapping[int, str] = {
    **GM_DRUM_MAP,
    22: "closed_hihat", 26: "open_hihat",
    58: "low_tom",
    52: "crash", 55: "crash",
}  # fmt: skip

# BFD3's default MIDI key map for the notes that GrooveToolbox's palette exports use, found by pairing every note of
# GrooveToolbox's MIDI test files with its palette hit (same beat and velocity). For reading such exports with
# ``--drum-map bfd3``; hi-hat notes follow the open/closed articulations of ``bfd.OPEN_HIHAT_ARTICS``.
BFD3_DRUM_MAP: Mapping[int, str] = {
    24: "kick",
    26: "snare",  # hit
    28: "snare",  # half edge
    29: "snare",  # rim shot
    30: "closed_hihat",  # closed tip
    32: "closed_hihat",  # pedal
    37: "closed_hihat",  # closed shank
    34: "open_hihat",  # open tip
    44: "open_hihat",  # 1/4 shank
    54: "open_hihat",  # 3/4 shank
    71: "ride",  # bell
    81: "ride",  # hit
    76: "extra_cymbal",  # Cymbal 1 hit
}

MAX_DRUM_MAP_BYTES = 1 << 20  # 128 note lines are a few kilobytes
BUILTIN_DRUM_MAPS: Mapping[str, Mapping[int, str]] = {"gm": GM_DRUM_MAP, "td11": TD11_DRUM_MAP, "bfd3": BFD3_DRUM_MAP}


def load_drum_map(source: str | Path) -> Mapping[int, str]:
    """A built-in map by name (``gm``, ``td11``, ``bfd3``) or a user map from a ``.toml`` / ``.json`` file.

    The file maps MIDI note numbers to kit part names, e.g. ``36 = "kick"`` in TOML or ``{"36": "kick"}`` in JSON
    (an optional top-level ``notes`` table is accepted too).
    """
    if str(source) in BUILTIN_DRUM_MAPS:
        return BUILTIN_DRUM_MAPS[str(source)]
    path = Path(source)
    if not path.exists():
        raise JakiInputError(f"{path}: drum map not found (use {', '.join(BUILTIN_DRUM_MAPS)} or a .toml/.json file)")
    data = read_bounded(path, MAX_DRUM_MAP_BYTES, "a .toml/.json drum map")
    try:
        text = data.decode("utf-8")
        raw = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:  # tomllib/json errors are ValueErrors
        raise JakiInputError(f"{path}: not a readable TOML/JSON drum map ({error})") from None
    if isinstance(raw, dict) and isinstance(raw.get("notes"), dict):
        raw = raw["notes"]
    if not isinstance(raw, dict) or not raw:
        raise JakiInputError(f"{path}: a drum map is a table of note number → kit part")
    drum_map: dict[int, str] = {}
    for note, part in raw.items():
        if not str(note).isdigit() or not 0 <= int(note) <= 127:
            raise JakiInputError(f"{path}: {note!r} is not a MIDI note number 0..127")
        if part not in KIT_PARTS:
            raise JakiInputError(f"{path}: note {note} maps to {part!r}; kit parts are {', '.join(KIT_PARTS)}")
        drum_map[int(note)] = part
    return drum_map


def fold_to_pattern(
    kit_velocities: np.ndarray,
    kit_offsets_ms: np.ndarray | None = None,
    threshold: float = HIT_THRESHOLD,
) -> Pattern:
    """Fold (steps, 10) kit-part velocities (0 = no hit) into a 5-part :class:`Pattern`.

    Velocities of kit parts that share a pattern part are summed and clipped at 1 before the threshold
    (closed hat 0.2 + ride 0.2 → 0.4 → a hit). A part's timing offset is the mean offset of the kit hits that
    fed it (NaN where none did).
    """
    kit_velocities = np.asarray(kit_velocities, dtype=np.float32)
    folded = np.minimum(1.0, kit_velocities @ _FOLD)
    hits = folded >= threshold
    offsets = None
    if kit_offsets_ms is not None:
        present = (kit_velocities > 0) & ~np.isnan(kit_offsets_ms)
        total = np.where(present, kit_offsets_ms, 0.0) @ _FOLD
        count = present.astype(np.float32) @ _FOLD
        with np.errstate(invalid="ignore", divide="ignore"):
            offsets = np.where(count > 0, total / count, np.nan)
        offsets = np.where(hits, np.nan_to_num(offsets), np.nan)
    return Pattern(hits, np.where(hits, folded, 0.0), offsets)
