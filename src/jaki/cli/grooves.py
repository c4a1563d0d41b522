"""``jaki grooves``: the built-in seed grooves, for a first look without a MIDI file."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from jaki.grooves import groove_library


def grooves() -> None:
    """List the built-in seed grooves (use one with 'jaki generate --groove NAME')."""
    table = Table("name", "tempo", "pattern (kick / snare / closed / open / toms)", "description", box=None)
    for groove in groove_library().values():
        table.add_row(groove.name, f"{groove.tempo_bpm:g}", groove.pattern.to_grid(), groove.description)
        table.add_row()
    Console().print(table)
