"""Shared test fixtures: where the real data lives, and the worked-example patterns of FEATURES.md §6."""

from __future__ import annotations

from pathlib import Path

import pytest

from jaki.pattern import Pattern

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
GMD = SHARED_DATA / "gmd" / "groove"
GROOVETOOLBOX = SHARED_DATA / "groovetoolbox"

PATTERN_A_GRID = """
kick   x.......x.......
snare  ....x.......x...
closed x.x.x.x.x.x.x.x.
open   ................
toms   ................
"""

PATTERN_B_GRID = """
kick   x......x..x.....
snare  ....x.x.....xx..
closed x.x.x.....x.x...
open   ...............x
toms   ...............x
"""


@pytest.fixture
def pattern_a() -> Pattern:
    """FEATURES.md §6 pattern A, basic rock."""
    return Pattern.from_grid(PATTERN_A_GRID)


@pytest.fixture
def pattern_b() -> Pattern:
    """FEATURES.md §6 pattern B, syncopated funk."""
    return Pattern.from_grid(PATTERN_B_GRID)


@pytest.fixture
def gmd_dir() -> Path:
    if not GMD.is_dir():
        pytest.skip("../shared/data/gmd is absent")
    return GMD


@pytest.fixture
def groovetoolbox_dir() -> Path:
    if not GROOVETOOLBOX.is_dir():
        pytest.skip("../shared/data/groovetoolbox is absent")
    return GROOVETOOLBOX
