"""``jaki analyze``: what jaki hears in a drum MIDI file, bar by bar — grid, tuner features, GrooveToolbox features."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from jaki.features import tuner_features
from jaki.feel import hit_list, part_feel
from jaki.groovetoolbox import microtiming_features, rhythm_features
from jaki.kit import BUILTIN_DRUM_MAPS, load_drum_map
from jaki.midi import DrumMidi, MidiBar, read_drum_midi

_FEATURE_CELL_WIDTH = 40  # characters for one name/value pair in the pretty feature table


def analyze(
    path: Annotated[
        Path, typer.Argument(help="A drum MIDI file (type 0 or 1; drums on channel 10).", show_default=False)
    ],
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")] = False,
    drum_map: Annotated[
        str | None,
        typer.Option(
            "--drum-map",
            help=f"Note → kit part map: {' or '.join(BUILTIN_DRUM_MAPS)} (built in), or a .toml/.json file. "
            "Default: td11 (a superset of General MIDI).",
            show_default=False,
        ),
    ] = None,
    channel: Annotated[
        int | None, typer.Option(help="Read this MIDI channel (1-16) as the drums (default: channel 10).")
    ] = None,
) -> None:
    """Show each 4/4 bar of a drum MIDI file as a grid with its tuner and GrooveToolbox features."""
    notes_to_parts = load_drum_map(drum_map) if drum_map is not None else None
    drum_midi = read_drum_midi(path, notes_to_parts, channel=channel)
    bars = [(bar, bar_features(bar)) for bar in drum_midi.bars]
    if json_output:
        typer.echo(json.dumps(analysis_json(drum_midi, bars), allow_nan=False))
    else:
        _print_analysis(drum_midi, bars)


def bar_features(bar: MidiBar) -> dict[str, float]:
    """The four tuner features, then GrooveToolbox's rhythm features and (timing being known) microtiming ones."""
    features = {**tuner_features(bar.pattern), **rhythm_features(bar.pattern)}
    microtiming = microtiming_features(bar.pattern)
    if microtiming is not None:
        features.update(microtiming)
    return features


def analysis_json(drum_midi: DrumMidi, bars: list[tuple[MidiBar, dict[str, float]]]) -> dict[str, Any]:
    """The ``--json`` document; NaN and infinite feature values become null."""
    return {
        "file": str(drum_midi.path),
        "bars": [
            {
                "index": bar.index,
                "tempo_bpm": bar.tempo_bpm,
                "grid": bar.pattern.grid_rows(),
                "features": {name: _finite_or_none(value) for name, value in features.items()},
                "feel": part_feel(bar.pattern),
                "hits": hit_list(bar.pattern),
            }
            for bar, features in bars
        ],
        "skipped": [{"index": skipped.index, "reason": skipped.reason} for skipped in drum_midi.skipped],
        "unmapped_notes": {str(note): count for note, count in drum_midi.unmapped_notes.items()},
    }


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _value_text(value: float) -> str:
    if not math.isfinite(value):
        return "—" if math.isnan(value) else "∞"
    return f"{value:g}" if value == int(value) else f"{value:.4g}"


def _feel_table(bar: MidiBar) -> Table:
    """Velocity and timing per part: mean ± spread of the velocity (MIDI) and of the offset from the grid (ms)."""
    table = Table("part", "hits", "velocity", "offset ms (+ late)", box=None, padding=(0, 1), title_justify="left")
    for p, (part, figures) in enumerate(part_feel(bar.pattern).items()):
        if figures["velocity_mean"] is None:
            continue
        offset = (
            ""
            if figures["offset_ms_mean"] is None
            else f"{figures['offset_ms_mean']:+.1f} ± {figures['offset_ms_spread']:.1f}"
        )
        velocity = f"{figures['velocity_mean']:.0f} ± {figures['velocity_spread']:.0f}"
        table.add_row(part, str(int(bar.pattern.hits[:, p].sum())), velocity, offset)
    return table


def _print_analysis(drum_midi: DrumMidi, bars: list[tuple[MidiBar, dict[str, float]]]) -> None:
    console = Console(highlight=False)
    console.print(
        f"[bold]{drum_midi.path}[/bold]: {len(drum_midi.bars)} bar(s) of 4/4, {len(drum_midi.skipped)} skipped"
    )
    for bar, features in bars:
        console.rule(f"bar {bar.index + 1} · {bar.tempo_bpm:.1f} bpm", align="left")
        console.print(Text(bar.pattern.to_grid()))
        pairs_per_row = max(1, console.width // _FEATURE_CELL_WIDTH)
        table = Table(show_header=False, box=None, padding=(0, 1))
        for _ in range(pairs_per_row):
            table.add_column(style="dim", no_wrap=True)
            table.add_column(justify="right", no_wrap=True)
        cells = [(name.replace("_", " "), _value_text(value)) for name, value in features.items()]
        for row_start in range(0, len(cells), pairs_per_row):
            row = cells[row_start : row_start + pairs_per_row]
            table.add_row(*[text for cell in row for text in cell])
        console.print(table)
        console.print(_feel_table(bar))
    if drum_midi.skipped:
        console.rule("skipped bars", align="left")
        for skipped in drum_midi.skipped:
            console.print(f"bar {skipped.index + 1}: {skipped.reason}")
    if drum_midi.unmapped_notes:
        counts = ", ".join(f"{note} ×{count}" for note, count in drum_midi.unmapped_notes.items())
        console.print(f"[yellow]unmapped notes[/yellow] (not in the drum map, ignored): {counts}")
