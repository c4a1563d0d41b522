"""Stand-ins for the tuner tests: hand-made level bands and a table scorer, so nothing needs the trained LSTM."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jaki.features import Band, FeatureBands
from jaki.pattern import N_CATEGORIES, STEPS_PER_BAR
from jaki.tuner.scorer import TableScorer

# The Groove MIDI Dataset's terciles (ANCHORS.md), as features.level_bands cuts them.
GMD_BANDS: FeatureBands = {
    "cymbal_density": {"low": Band(0, 5), "medium": Band(6, 8), "high": Band(9, 16)},
    "drum_density": {"low": Band(0, 6), "medium": Band(7, 9), "high": Band(10, 48)},
    "syncopation": {"low": Band(0, 6), "medium": Band(7, 11), "high": Band(12, 90)},
    "repetition": {"low": Band(0, 2 / 9), "medium": Band(0.25, 0.5), "high": Band(8 / 15, 1)},
}


def copy_scorer(p_copy: float = 0.5) -> TableScorer:
    """Bar 2's step t repeats bar 1's step t with probability ``p_copy``, else any other category uniformly."""
    table = np.full((STEPS_PER_BAR, N_CATEGORIES, N_CATEGORIES), (1 - p_copy) / (N_CATEGORIES - 1))
    table[:, np.arange(N_CATEGORIES), np.arange(N_CATEGORIES)] = p_copy
    return TableScorer(np.log(table))


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The tuner's networks are small: on a shared 2-core machine, extra torch threads only wait on each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def bands() -> FeatureBands:
    return GMD_BANDS


@pytest.fixture
def scorer() -> TableScorer:
    return copy_scorer()
