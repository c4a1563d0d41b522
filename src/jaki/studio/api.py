"""The studio's JSON API as plain functions: a request document → the library call → the response document.

Nothing here knows about HTTP (that is :mod:`jaki.studio.app`). A generate request names its fields as
``jaki generate`` names its options (``groove``, ``seed_grid``, ``syncopation``, ``bars``, ``seed``…, with
underscores), each value goes through the same library checks as the CLI's, so bad input gets the CLI's one-line
message, and the answer is :func:`jaki.generate.variations_document`, the document ``jaki generate --json`` prints.
A MIDI seed travels as the file's bytes (base64 in a generate request): no request ever names a path.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
from dataclasses import dataclass
from typing import Any

from jaki.errors import JakiInputError
from jaki.features import LEVELS, TUNER_FEATURES
from jaki.feel import SWING_RANGE
from jaki.generate import (
    DEFAULT_TEMPO_BPM,
    MAX_BARS,
    MAX_SEED_VALUE,
    MAX_VARIATIONS,
    OPEN_NOTES,
    TEMPO_RANGE_BPM,
    TUNING_METHODS,
    Generation,
    Seed,
    TuningOptions,
    check_method,
    check_seed_value,
    generate_variations,
    generation_midi,
    midi_seed_bar,
    open_note,
    parse_target,
    pattern_document,
    resolve_tempo,
    seed_from_drum_midi,
    seed_from_grid,
    seed_from_groove,
)
from jaki.grooves import groove_library
from jaki.kit import BUILTIN_DRUM_MAPS
from jaki.midi import accent_velocities, read_drum_midi_data
from jaki.pattern import PARTS
from jaki.tuner import Targets
from jaki.weights import LoadedModel


@dataclass(frozen=True)
class StudioConfig:
    """Limits on what a request may send: a drum MIDI file is kilobytes, a generate request a few hundred bytes."""

    max_upload_bytes: int = 1 << 20  # a MIDI file sent to seed-from-midi
    max_body_bytes: int = 2 << 20  # any request body (a generate request may carry that file in base64)
    max_name_chars: int = 120  # an upload's file name, kept only to label messages


SEED_FIELDS = ("groove", "seed_grid", "seed_midi")
MIDI_ROLES = ("seed", "continuation", "tuned", "loop")
REQUEST_FIELDS = (
    *SEED_FIELDS,
    "seed_midi_name",
    "bar",
    "drum_map",
    "channel",
    *TUNER_FEATURES,
    "keep",
    "closeness",
    "method",
    "bars",
    "temperature",
    "top_p",
    "fill",
    "variations",
    "humanize",
    "swing",
    "seed",
    "tempo",
    "open_as",
)


@dataclass(frozen=True)
class GenerateRequest:
    """A checked generate request: the arguments of :func:`jaki.generate.generate`, plus what the MIDI files need."""

    seed: Seed
    targets: dict[str, str | float]
    keep: tuple[str, ...]  # parts tuning must not change
    bars: int
    temperature: float | None  # None: the model's own decoding
    top_p: float | None
    fill: bool
    variations: int
    humanize: float  # the groove model's feel, 0 (jaki's grid) .. 1
    swing: float  # MPC-style percent, 50 = straight
    seed_value: int
    tuning: TuningOptions
    tempo_bpm: float
    open_note: int


def parse_generate_request(body: Any, config: StudioConfig, random_seed_value: int) -> GenerateRequest:
    """Check every field as the CLI checks the option of that name; ``random_seed_value`` is used when no seed is
    given (the document's ``seed_value`` then says which)."""
    if not isinstance(body, dict):
        raise JakiInputError("request: expected a JSON object of generate options")
    unknown = sorted(set(body) - set(REQUEST_FIELDS))
    if unknown:
        raise JakiInputError(f"request: unknown option {unknown[0]!r} (expected {', '.join(REQUEST_FIELDS)})")
    seed = _seed(body, config)
    targets: dict[str, str | float] = {}
    for feature in TUNER_FEATURES:
        value = body.get(feature)
        if isinstance(value, str):
            value = parse_target(feature, value)
        elif value is not None:
            value = _number(feature, value)
        if value is not None:
            targets[feature] = value
    Targets(**targets)  # out-of-range numbers fail here, as in the CLI
    closeness = body.get("closeness")
    seed_value = body.get("seed")
    return GenerateRequest(
        seed=seed,
        targets=targets,
        keep=_parts("keep", body.get("keep", [])),
        bars=_whole("bars", body.get("bars", 1)),
        temperature=_optional_number("temperature", body.get("temperature")),
        top_p=_optional_number("top_p", body.get("top_p")),
        fill=_flag("fill", body.get("fill", False)),
        variations=_whole("variations", body.get("variations", 1)),
        humanize=_number("humanize", body.get("humanize", 1.0)),
        swing=_number("swing", body.get("swing", SWING_RANGE[0])),
        seed_value=random_seed_value if seed_value is None else check_seed_value(_whole("seed", seed_value)),
        tuning=TuningOptions(
            method=check_method(_text("method", body.get("method", "agent"))),
            closeness=None if closeness is None else _number("closeness", closeness),
        ),
        tempo_bpm=resolve_tempo(None if body.get("tempo") is None else _number("tempo", body["tempo"]), seed),
        open_note=open_note(_text("open-as", body.get("open_as", "hihat"))),
    )


def run_generation(request: GenerateRequest, model: LoadedModel) -> tuple[Generation, ...]:
    """The library call behind ``jaki generate``, with the request's arguments: the variations, likeliest first."""
    return generate_variations(
        request.seed,
        request.targets,
        request.variations,
        n_bars=request.bars,
        temperature=request.temperature,
        top_p=request.top_p,
        fill=request.fill,
        keep=request.keep,
        humanize=request.humanize,
        swing=request.swing,
        seed_value=request.seed_value,
        model=model,
        tuning=request.tuning,
        tempo_bpm=request.tempo_bpm,  # the groove model's timing is in ms at the tempo the files are written at
    )


def midi_bytes(generation: Generation, request: GenerateRequest, role: str) -> bytes:
    """One of the MIDI files ``jaki generate`` writes (``MIDI_ROLES``), as bytes for a download."""
    buffer = io.BytesIO()
    generation_midi(generation, tempo_bpm=request.tempo_bpm, open_note=request.open_note)[role].save(file=buffer)
    return buffer.getvalue()


def grooves_document() -> list[dict]:
    """The built-in grooves (``jaki grooves``), each with its grid and features as in the generate document."""
    return [
        {"name": g.name, "description": g.description, "tempo": g.tempo_bpm, **pattern_document(g.pattern)}
        for g in groove_library().values()
    ]


def midi_seed_document(
    data: bytes, name: str, bar: int | None, drum_map: str | None, channel: int | None, config: StudioConfig
) -> dict:
    """An uploaded MIDI file read as ``--seed-midi`` reads it: the seed bar chosen (``bar``, else the first 4/4 bar
    with hits) as the generate document shows a seed, its tempo, and every 4/4 bar so that the page can offer them."""
    label = upload_name(name, config)
    check_upload_size(len(data), label, config)
    midi = read_drum_midi_data(data, label, _drum_map(drum_map), channel=channel)
    seed = seed_from_drum_midi(midi, bar)
    chosen = midi_seed_bar(midi, bar)
    return {
        "seed": {**pattern_document(seed.pattern.binary()), "source": seed.source},
        "bar": chosen.index + 1,
        "tempo": seed.tempo_bpm,
        "bars": [
            {"bar": b.index + 1, "tempo": b.tempo_bpm, "grid": b.pattern.binary().grid_rows()}
            for b in midi.bars
            if b.pattern.hits.any()
        ],
        "skipped": [{"bar": s.index + 1, "reason": s.reason} for s in midi.skipped],
    }


def setup_document(model: LoadedModel) -> dict:
    """What the page builds its controls from: parts, features with the model's level bands, options and limits."""
    return {
        "parts": list(PARTS),
        "accent_velocities": [int(v) for v in accent_velocities()],
        "features": {
            feature: {level: [model.bands[feature][level].lo, model.bands[feature][level].hi] for level in LEVELS}
            for feature in TUNER_FEATURES
        },
        "levels": list(LEVELS),
        "methods": list(TUNING_METHODS),
        "open_as": list(OPEN_NOTES),
        "drum_maps": list(BUILTIN_DRUM_MAPS),
        "defaults": {
            "bars": 1,
            "temperature": model.decoding.temperature,
            "top_p": model.decoding.top_p,
            "variations": 1,
            "humanize": 1.0,
            "swing": SWING_RANGE[0],
            "tempo": DEFAULT_TEMPO_BPM,
            "method": "agent",
            "open_as": "hihat",
        },
        "limits": {
            "bars": [1, MAX_BARS],
            "variations": [1, MAX_VARIATIONS],
            "swing": list(SWING_RANGE),
            "seed": [0, MAX_SEED_VALUE],
            "tempo": list(TEMPO_RANGE_BPM),
        },
        "model": str(model.metadata.get("name", "continuation")),
    }


def upload_name(name: str | None, config: StudioConfig) -> str:
    """An upload's file name reduced to a label for messages: no folders, no control characters, not too long."""
    text = "".join(c for c in (name or "") if c.isprintable()).replace("\\", "/").rsplit("/", 1)[-1].strip()
    return (text or "upload.mid")[: config.max_name_chars]


def check_upload_size(size: int, label: str, config: StudioConfig) -> None:
    if size > config.max_upload_bytes:
        raise upload_too_large(label, config)


class UploadTooLarge(JakiInputError):
    """A request body over its limit (HTTP 413)."""


def upload_too_large(label: str, config: StudioConfig) -> UploadTooLarge:
    return UploadTooLarge(f"{label}: larger than {_size_text(config.max_upload_bytes)} (expected a drum MIDI file)")


def body_too_large(config: StudioConfig) -> UploadTooLarge:
    return UploadTooLarge(f"request: larger than {_size_text(config.max_body_bytes)}")


def _size_text(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:g} MiB" if n_bytes >= 2**20 else f"{n_bytes / 2**10:g} KiB"


def _seed(body: dict, config: StudioConfig) -> Seed:
    given = [name for name in SEED_FIELDS if body.get(name) is not None]
    if len(given) > 1:
        options = " and ".join(f"--{name.replace('_', '-')}" for name in given)
        raise JakiInputError(f"choose one seed: {options} were both given")
    for name, partner in (
        ("bar", "seed_midi"),
        ("drum_map", "seed_midi"),
        ("channel", "seed_midi"),
        ("seed_midi_name", "seed_midi"),
    ):
        if body.get(name) is not None and body.get(partner) is None:
            raise JakiInputError(f"{name} goes with {partner}")
    if not given:
        raise JakiInputError("request: no seed (give groove, seed_grid or seed_midi)")
    if given[0] == "groove":
        return seed_from_groove(_text("groove", body["groove"]))
    if given[0] == "seed_grid":
        return seed_from_grid(_text("seed-grid", body["seed_grid"]), "--seed-grid")
    label = upload_name(body.get("seed_midi_name"), config)
    try:
        data = base64.b64decode(_text("seed-midi", body["seed_midi"]), validate=True)
    except (binascii.Error, ValueError):
        raise JakiInputError(f"{label}: seed_midi is not base64 (expected a MIDI file's bytes)") from None
    check_upload_size(len(data), label, config)
    bar, channel = body.get("bar"), body.get("channel")
    channel = None if channel is None else _whole("channel", channel)
    midi = read_drum_midi_data(data, label, _drum_map(body.get("drum_map")), channel=channel)
    return seed_from_drum_midi(midi, None if bar is None else _whole("bar", bar))


def _drum_map(name: Any) -> dict[int, str] | None:
    """A built-in drum map by name only: a request never names a file."""
    if name is None:
        return None
    if name not in BUILTIN_DRUM_MAPS:
        raise JakiInputError(f"--drum-map {name!r}: expected {', '.join(BUILTIN_DRUM_MAPS)}")
    return dict(BUILTIN_DRUM_MAPS[name])


def _number(option: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise JakiInputError(f"--{option.replace('_', '-')} {value!r}: expected a number")
    return float(value)


def _parts(option: str, value: Any) -> tuple[str, ...]:
    """Part names as a list, or as the CLI takes them (``"kick,snare"``); the tuner checks the names."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not all(isinstance(part, str) for part in value):
        raise JakiInputError(f"--{option} {value!r}: expected part names, e.g. kick,snare")
    return tuple(value)


def _optional_number(option: str, value: Any) -> float | None:
    return None if value is None else _number(option, value)


def _flag(option: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise JakiInputError(f"--{option.replace('_', '-')} {value!r}: expected true or false")
    return value


def _whole(option: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise JakiInputError(f"--{option.replace('_', '-')} {value!r}: expected a whole number")
    return value


def _text(option: str, value: Any) -> str:
    if not isinstance(value, str):
        raise JakiInputError(f"--{option.replace('_', '-')} {value!r}: expected text")
    return value
