"""The built-in library of named one-bar seed grooves (``assets/grooves.toml``), written as text grids."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from jaki.errors import JakiInputError
from jaki.pattern import Pattern

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib


@dataclass(frozen=True)
class Groove:
    name: str
    description: str
    tempo_bpm: float
    pattern: Pattern


@cache
def groove_library() -> dict[str, Groove]:
    """All built-in grooves by name, in file order."""
    text = resources.files("jaki").joinpath("assets/grooves.toml").read_text(encoding="utf-8")
    return {
        name: Groove(name, entry["description"], float(entry["tempo"]), Pattern.from_grid(entry["grid"]))
        for name, entry in tomllib.loads(text).items()
    }


def get_groove(name: str) -> Groove:
    """A groove by name, or an input error that suggests the closest names."""
    library = groove_library()
    key = name.strip().lower().replace(" ", "-").replace("_", "-")
    if key in library:
        return library[key]
    close = difflib.get_close_matches(key, library, n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(close)}?" if close else "run 'jaki grooves' for the list"
    raise JakiInputError(f"unknown groove {name!r}: {hint}")
