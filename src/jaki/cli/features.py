"""``jaki features``: what the four tuner features measure, on a groove you can read, and the model's bands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.padding import Padding
from rich.text import Text

from jaki.features import FEATURE_MEANINGS, FEATURE_RANGES, TUNER_FEATURES, bands_to_json, tuner_features
from jaki.grooves import get_groove

BANDS_NOTE = (
    "Levels are bands cut at the terciles of the second bars the model was trained on: a third of real bars lie "
    "in 'low', a third in 'medium', a third in 'high'. 'high' runs on to the largest value the feature can take, "
    "so that every bar has a level, even though real bars stay far below the top of the range. A number asks for "
    "that value (± {count:g}; ± {repetition:g} for repetition)."
)


def features(
    groove: Annotated[str, typer.Option(help="The built-in groove to show the features on (see 'jaki grooves').")] = (
        "funk"
    ),
    model: Annotated[Path | None, typer.Option(help="Show this model's bands (default: the shipped model).")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON document instead of text.")] = False,
) -> None:
    """Explain the four features the tuner aims at (cymbal density, drum density, syncopation, repetition), show
    their values on a groove, and the low / medium / high bands of the model."""
    from jaki.tuner.targets import COUNT_TOLERANCE, REPETITION_TOLERANCE
    from jaki.weights import load_model

    example = get_groove(groove)
    values = tuner_features(example.pattern)
    bands = load_model(model).bands
    if json_output:
        document = {
            feature: {
                "meaning": FEATURE_MEANINGS[feature],
                "range": list(FEATURE_RANGES[feature]),
                "bands": bands_to_json(bands)[feature],
                "example": {"groove": example.name, "value": values[feature]},
            }
            for feature in TUNER_FEATURES
        }
        typer.echo(json.dumps(document, indent=2))
        return
    console = Console(highlight=False)
    console.print(f"[bold]{example.name}[/bold] ({example.description}):")
    console.print(Text(example.pattern.to_grid()))
    for feature in TUNER_FEATURES:
        lo, hi = FEATURE_RANGES[feature]
        levels = " · ".join(f"{level} {band}" for level, band in bands[feature].items())
        console.print()
        console.print(
            f"[bold]{feature.replace('_', ' ')}[/bold] ({lo:g}–{hi:g}): {example.name} has "
            f"{_value_text(values[feature])}; {levels}"
        )
        meaning = FEATURE_MEANINGS[feature]
        console.print(Padding(f"{meaning[0].upper()}{meaning[1:]}.", (0, 0, 0, 2)))
    console.print()
    console.print(BANDS_NOTE.format(count=COUNT_TOLERANCE, repetition=REPETITION_TOLERANCE))


def _value_text(value: float) -> str:
    return f"{value:g}" if float(value).is_integer() else f"{value:.2f}"
