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


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A small, untrained continuation model saved like a real one (weights + config with bands), so that commands
    can be tested without the shipped model; its bands come from random bars."""
    import numpy as np
    import torch

    from jaki.features import bands_to_json, level_bands, tuner_feature_values
    from jaki.model import ContinuationModel, ModelConfig
    from jaki.weights import save_model

    torch.manual_seed(0)
    model = ContinuationModel(ModelConfig(embed_dim=8, hidden=16)).eval()
    bars = np.random.default_rng(0).integers(0, 32, size=(300, 16))
    directory = tmp_path_factory.mktemp("models") / "tiny"
    save_model(
        model,
        directory,
        metadata={"name": "tiny-test", "bands": bands_to_json(level_bands(tuner_feature_values(bars)))},
    )
    return directory
